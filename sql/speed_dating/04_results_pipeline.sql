-- Score each new pair while it is ingested: PREDICT gives the model's answer
-- (the label's 0 or 1, stored as a boolean), PREDICT_PROBA its probability of
-- a match, MODEL_VERSION the version that decided. The features are passed in
-- the order the model was trained with.
CREATE PIPELINE speed_dating_results AS
    LOAD DATA KAFKA 'classify'
    BATCH_INTERVAL 250
    SKIP ALL ERRORS
    INTO TABLE dating_results
    FORMAT JSON
    SET is_match = PREDICT('dating_model',
            attr_o, sinc_o, intel_o, fun_o, amb_o, shar_o, like_o, prob_o, met_o,
            attr, sinc, intel, fun, amb, shar, like, prob, met,
            attr1_1, sinc1_1, intel1_1, fun1_1, amb1_1, shar1_1,
            pf_o_att, pf_o_sin, pf_o_int, pf_o_fun, pf_o_amb, pf_o_sha,
            age, age_o, int_corr, samerace,
            CAST(race AS text), CAST(race_o AS text),
            CAST(field_cd AS text), CAST(gender AS text)),
        match_probability = PREDICT_PROBA('dating_model',
            attr_o, sinc_o, intel_o, fun_o, amb_o, shar_o, like_o, prob_o, met_o,
            attr, sinc, intel, fun, amb, shar, like, prob, met,
            attr1_1, sinc1_1, intel1_1, fun1_1, amb1_1, shar1_1,
            pf_o_att, pf_o_sin, pf_o_int, pf_o_fun, pf_o_amb, pf_o_sha,
            age, age_o, int_corr, samerace,
            CAST(race AS text), CAST(race_o AS text),
            CAST(field_cd AS text), CAST(gender AS text)),
        model_version = MODEL_VERSION('dating_model');

-- Runs in the background from now on; every pair sent to `classify` lands
-- in dating_results already scored.
START PIPELINE speed_dating_results;
