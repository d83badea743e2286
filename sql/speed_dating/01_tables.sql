-- The Speed Dating experiment (Fisman & Iyengar, 2002-2004): one row is one
-- four-minute date, subject `iid` meeting partner `pid`. `match` = 1 when both
-- said yes. Two tables: the earlier waves teach a model, the later ones are
-- scored by it while they are ingested.

-- Labelled pairs of waves 1-14, streamed from the Kafka topic `training`.
CREATE TABLE dating_training_data (
    iid int, pid int, wave int, round int, gender int,
    match int, dec int, dec_o int,
    -- how the partner rated the subject (1-10)
    attr_o double precision, sinc_o double precision, intel_o double precision,
    fun_o double precision, amb_o double precision, shar_o double precision,
    like_o double precision, prob_o double precision, met_o double precision,
    -- how the subject rated the partner
    attr double precision, sinc double precision, intel double precision,
    fun double precision, amb double precision, shar double precision,
    like double precision, prob double precision, met double precision,
    -- what the subject looks for (100 points over six traits)
    attr1_1 double precision, sinc1_1 double precision, intel1_1 double precision,
    fun1_1 double precision, amb1_1 double precision, shar1_1 double precision,
    -- what the partner looks for
    pf_o_att double precision, pf_o_sin double precision, pf_o_int double precision,
    pf_o_fun double precision, pf_o_amb double precision, pf_o_sha double precision,
    -- who they are
    age int, age_o int, race int, race_o int, samerace int,
    field text, field_cd int, career text, income double precision,
    int_corr double precision
);

-- Pairs of waves 15-21, streamed from `classify`, each scored on arrival:
-- the same columns, the model's suggestion and the version that made it.
CREATE TABLE dating_results (
    iid int, pid int, wave int, round int, gender int,
    match int, dec int, dec_o int,
    attr_o double precision, sinc_o double precision, intel_o double precision,
    fun_o double precision, amb_o double precision, shar_o double precision,
    like_o double precision, prob_o double precision, met_o double precision,
    attr double precision, sinc double precision, intel double precision,
    fun double precision, amb double precision, shar double precision,
    like double precision, prob double precision, met double precision,
    attr1_1 double precision, sinc1_1 double precision, intel1_1 double precision,
    fun1_1 double precision, amb1_1 double precision, shar1_1 double precision,
    pf_o_att double precision, pf_o_sin double precision, pf_o_int double precision,
    pf_o_fun double precision, pf_o_amb double precision, pf_o_sha double precision,
    age int, age_o int, race int, race_o int, samerace int,
    field text, field_cd int, career text, income double precision,
    int_corr double precision,
    is_match boolean,
    match_probability double precision,
    model_version bigint
);
