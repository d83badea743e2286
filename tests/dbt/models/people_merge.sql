{{ config(materialized='incremental', unique_key='id', incremental_strategy='merge') }}
select id, name, age + 1 as next_age from {{ ref('people') }}
{% if is_incremental() %}
where id >= (select max(id) from {{ this }}) - 1
{% endif %}
