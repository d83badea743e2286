-- A logistic regression that predicts `match` from both people's ratings of
-- each other, what each looks for, and who they are. Categorical codes (race,
-- field, gender) are cast to text so that they are one-hot encoded. The
-- preprocessing (imputation, scaling, one-hot) is learnt here and stored
-- with the model, so PREDICT applies exactly the same transform.
CREATE MODEL dating_model
OPTIONS (
    model_type = 'logistic_reg',
    input_label_cols = ['match'],
    data_split_method = 'stratified',
    test_fraction = 0.2,
    class_weight = 'balanced',
    l2_reg = 1.0,
    max_iterations = 100,
    seed = 42,
    refresh = 'incremental',
    refresh_interval_ms = 5000
) AS
SELECT
    match,
    attr_o, sinc_o, intel_o, fun_o, amb_o, shar_o, like_o, prob_o, met_o,
    attr, sinc, intel, fun, amb, shar, like, prob, met,
    attr1_1, sinc1_1, intel1_1, fun1_1, amb1_1, shar1_1,
    pf_o_att, pf_o_sin, pf_o_int, pf_o_fun, pf_o_amb, pf_o_sha,
    age, age_o, int_corr, samerace,
    CAST(race AS text) AS race, CAST(race_o AS text) AS race_o,
    CAST(field_cd AS text) AS field_cd, CAST(gender AS text) AS gender
FROM dating_training_data;

-- The model's current evaluation on its held-out pairs, as one row (rounded
-- for reading; EVALUATE('dating_model') has every digit). It follows the
-- model: after each incremental refresh it shows the new version.
CREATE VIEW dating_training AS
SELECT e.version, m.rows_trained, e.rows AS evaluated_rows,
       round(e.accuracy, 4) AS accuracy, round(e.precision, 4) AS precision,
       round(e.recall, 4) AS recall, round(e.f1_score, 4) AS f1_score,
       round(e.roc_auc, 4) AS roc_auc
FROM EVALUATE('dating_model') AS e
JOIN information_schema.models AS m
  ON m.model_name = 'dating_model' AND m.version = e.version;
