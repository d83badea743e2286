{{ config(materialized='view') }}
select id, name, age, city from {{ ref('people') }}
