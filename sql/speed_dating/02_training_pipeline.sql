-- Stream the labelled pairs into dating_training_data. The topic is named
-- without a broker: the server's --kafka (or the demo's cluster) supplies it.
-- Each batch commits its rows and its Kafka offsets in one transaction.
CREATE PIPELINE speed_dating_training AS
    LOAD DATA KAFKA 'training'
    BATCH_INTERVAL 250
    SKIP ALL ERRORS
    INTO TABLE dating_training_data
    FORMAT JSON;

-- Load what the topic holds now, in this session (it returns when the topic
-- is quiet), so that the model below has data to learn from ...
START PIPELINE speed_dating_training FOREGROUND;

-- ... then keep following the topic in the background: new labelled pairs
-- land in the table and the incremental model learns from them.
START PIPELINE speed_dating_training;
