-- The five aggregate queries of bench/query, one per line, run unchanged on
-- Brook, PostgreSQL and DataFusion in process.
SELECT category, count(*) AS n, sum(amount) AS total FROM events GROUP BY category ORDER BY category
SELECT count(*) AS n, avg(amount) AS mean FROM events WHERE amount > 900 AND user_id < 5000
SELECT id, amount FROM events ORDER BY amount DESC, id LIMIT 10
SELECT count(DISTINCT user_id) AS users FROM events
SELECT u.region, count(*) AS n, sum(e.amount) AS total FROM events e JOIN users u ON e.user_id = u.user_id GROUP BY u.region ORDER BY u.region
