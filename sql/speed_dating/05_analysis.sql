-- What an analyst asks once the scored pairs have landed. Each query is
-- preceded by a one-line title (the demo prints it above the result).

-- How good are the suggestions? is_match against the people's real match
SELECT count(*) AS pairs,
       sum(CASE WHEN match = 1 THEN 1 ELSE 0 END) AS real_matches,
       sum(CASE WHEN is_match THEN 1 ELSE 0 END) AS suggested,
       sum(CASE WHEN is_match AND match = 1 THEN 1 ELSE 0 END) AS both,
       round(avg(CASE WHEN is_match = (match = 1) THEN 1.0 ELSE 0.0 END), 3) AS accuracy,
       round(CAST(sum(CASE WHEN is_match AND match = 1 THEN 1 ELSE 0 END) AS double precision)
             / sum(CASE WHEN is_match THEN 1 ELSE 0 END), 3) AS precision,
       round(CAST(sum(CASE WHEN is_match AND match = 1 THEN 1 ELSE 0 END) AS double precision)
             / sum(CASE WHEN match = 1 THEN 1 ELSE 0 END), 3) AS recall
FROM dating_results;

-- The best-rated pairs the model turns down
SELECT iid, pid, wave, like, like_o, attr, attr_o,
       round(match_probability, 3) AS probability, match
FROM dating_results
WHERE NOT is_match AND like IS NOT NULL AND like_o IS NOT NULL
ORDER BY like + like_o DESC, attr + attr_o DESC NULLS LAST, iid, pid
LIMIT 10;

-- Accuracy per wave (waves 15-21 were never seen in training)
SELECT wave, count(*) AS pairs,
       sum(CASE WHEN match = 1 THEN 1 ELSE 0 END) AS real_matches,
       sum(CASE WHEN is_match THEN 1 ELSE 0 END) AS suggested,
       round(avg(CASE WHEN is_match = (match = 1) THEN 1.0 ELSE 0.0 END), 3) AS accuracy
FROM dating_results
GROUP BY wave
ORDER BY wave;

-- The people with the most suggested matches, and how many they really got
SELECT iid, gender, count(*) AS dates,
       sum(CASE WHEN is_match THEN 1 ELSE 0 END) AS suggested,
       sum(CASE WHEN match = 1 THEN 1 ELSE 0 END) AS real_matches,
       round(avg(match_probability), 3) AS mean_probability
FROM dating_results
GROUP BY iid, gender
ORDER BY suggested DESC, real_matches DESC, iid
LIMIT 10;

-- The two people's own decisions against the model's suggestion
SELECT dec AS subject_said_yes, dec_o AS partner_said_yes, count(*) AS pairs,
       sum(CASE WHEN is_match THEN 1 ELSE 0 END) AS suggested,
       round(avg(match_probability), 3) AS mean_probability
FROM dating_results
GROUP BY dec, dec_o
ORDER BY dec, dec_o;
