-- The benchmark data, generated identically by every engine: :rows events
-- over 100,000 users in 10 regions. (`generate_series(...) AS s(value)` is the
-- spelling PostgreSQL and DataFusion both accept.)
CREATE TABLE events AS
SELECT value AS id,
       value % 100000 AS user_id,
       'category_' || CAST(value % 50 AS text) AS category,
       CAST((value * 7919) % 100000 AS double precision) / 100 AS amount
FROM generate_series(CAST(1 AS bigint), CAST(:rows AS bigint)) AS s(value);
CREATE TABLE users AS
SELECT value AS user_id, 'region_' || CAST(value % 10 AS text) AS region
FROM generate_series(CAST(0 AS bigint), CAST(99999 AS bigint)) AS s(value);
