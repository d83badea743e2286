{{ config(materialized='table') }}
select id, upper(name) as name, age from {{ ref('people_view') }} where age >= 21
