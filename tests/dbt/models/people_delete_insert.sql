{{ config(materialized='incremental', unique_key='id', incremental_strategy='delete+insert') }}
select id, name, city from {{ ref('people') }}
{% if is_incremental() %}
where id >= (select max(id) from {{ this }}) - 1
{% endif %}
