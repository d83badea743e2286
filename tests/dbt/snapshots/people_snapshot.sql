{% snapshot people_snapshot %}
{{ config(target_schema='snapshots', unique_key='id', strategy='check', check_cols=['age', 'city']) }}
select id, name, age, city from {{ ref('people') }}
{% endsnapshot %}
