//! The crash harness (issue #7): keyed messages ingest through a pipeline
//! into a table that an incrementally refreshed model follows, while the
//! server is `kill -9`ed at random moments and restarted each time. After
//! every restart and at the end: no duplicate key, committed offsets equal
//! the rows, and at the end every key present; model and pipeline intact.
//!
//! CI runs a small size; `bench/chaos/run.sh` runs the full one
//! (`CHAOS_MESSAGES=200000 CHAOS_KILLS=20`) and prints the figures that
//! RELIABILITY.md records.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::kafka::Tansu;
use crate::pipelines::{json, wait_state};
use crate::support::{Brook, count, setting, wait_for};

const PARTITIONS: i64 = 4;

/// committed offsets summed over partitions: the messages the table holds.
const COMMITTED: &str = "SELECT coalesce(sum(committed_offset), 0) FROM information_schema.pipelines_cursors \
                         WHERE pipeline_name = 'chaos'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let messages = setting("CHAOS_MESSAGES", 20_000) as i64;
    let kills = setting("CHAOS_KILLS", 5);
    let seed = setting("CHAOS_SEED", 7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();

    let kafka = Tansu::start();
    kafka.create_topic("chaos", PARTITIONS as i32).await;
    kafka
        .produce(
            "chaos",
            (0..messages).map(|i| {
                let x = (i % 97) as f64 / 97.0;
                (
                    (i % PARTITIONS) as i32,
                    json(serde_json::json!({ "id": i, "x": x, "label": x > 0.5 })),
                )
            }),
        )
        .await;
    let produced_in = started.elapsed();

    let mut brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE chaos (id bigint NOT NULL, x double precision, label boolean); \
             CREATE PIPELINE chaos AS LOAD DATA KAFKA '{}/chaos' BATCH_INTERVAL 50 \
             MAX_OFFSETS_PER_BATCH_PARTITION 2000 INTO TABLE chaos FORMAT JSON; \
             START PIPELINE chaos",
            kafka.brokers()
        ))
        .await
        .unwrap();
    wait_for(
        &brook,
        &client,
        "SELECT least(count(*), 200) FROM chaos",
        200,
    )
    .await;
    client
        .batch_execute(
            "CREATE MODEL chaos_model OPTIONS (model_type = 'logistic_reg', input_label_cols = ['label'], \
             refresh = 'incremental', refresh_interval_ms = 300) AS SELECT x, label FROM chaos",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}; log: {}", brook.log()));
    drop(client);

    let ingest_started = Instant::now();
    let mut at_kills = Vec::new();
    let mut last_rows = 0;
    for kill in 0..kills {
        // Wait until the restarted pipeline is ingesting again, then kill at
        // a random moment in the next 0–1 s: mid-batch, mid-commit,
        // mid-compaction or mid-refresh, whichever it hits.
        let client = brook.client().await;
        let resumed_by = Instant::now() + Duration::from_secs(120);
        while count(&client, "SELECT count(*) FROM chaos").await <= last_rows
            && last_rows < messages
        {
            assert!(
                Instant::now() < resumed_by,
                "ingest did not resume; log: {}",
                brook.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(client);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1000))).await;
        brook = brook.crash_and_restart();
        let client = brook.client().await;
        // Once the pipeline has read its offsets back, stop it (STOP lets
        // the batch in hand commit) so that rows and offsets hold still.
        wait_for(
            &brook,
            &client,
            "SELECT count(committed_offset) FROM information_schema.pipelines_cursors \
             WHERE pipeline_name = 'chaos'",
            PARTITIONS,
        )
        .await;
        client.batch_execute("STOP PIPELINE chaos").await.unwrap();
        let rows = count(&client, "SELECT count(*) FROM chaos").await;
        let distinct = count(&client, "SELECT count(DISTINCT id) FROM chaos").await;
        let committed = count(&client, COMMITTED).await;
        assert_eq!(rows, distinct, "kill {kill}: duplicate keys after restart");
        assert_eq!(
            rows, committed,
            "kill {kill}: rows and committed offsets disagree"
        );
        client.batch_execute("START PIPELINE chaos").await.unwrap();
        at_kills.push(rows);
        last_rows = rows;
        println!("chaos: kill {:>2} at {:>7} rows", kill + 1, rows);
    }

    let client = brook.client().await;
    let done_by = Instant::now() + Duration::from_secs(900);
    while count(&client, "SELECT count(*) FROM chaos").await < messages && Instant::now() < done_by
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for(&brook, &client, "SELECT count(*) FROM chaos", messages).await;
    let ingest_time = ingest_started.elapsed();
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM chaos").await,
        messages
    );
    assert_eq!(count(&client, "SELECT min(id) FROM chaos").await, 0);
    assert_eq!(
        count(&client, "SELECT max(id) FROM chaos").await,
        messages - 1
    );
    assert_eq!(count(&client, COMMITTED).await, messages);
    assert_eq!(wait_state(&brook, &client, "chaos", "Running").await, None);
    // The model survived every kill and still predicts.
    let versions = count(
        &client,
        "SELECT count(*) FROM information_schema.models WHERE model_name = 'chaos_model'",
    )
    .await;
    assert!(versions >= 1, "the model is gone");
    let predicted = count(
        &client,
        "SELECT count(*) FROM chaos WHERE PREDICT('chaos_model', x) = (x > 0.5) AND id < 1000",
    )
    .await;
    assert!(
        predicted > 900,
        "the surviving model predicts {predicted}/1000 right"
    );
    println!(
        "chaos: {messages} messages ({PARTITIONS} partitions) produced in {:.1} s; {kills} kill -9s \
         at rows {at_kills:?}; all ingested {:.1} s after ingest began; \
         0 lost, 0 duplicated; model versions {versions}; seed {seed}",
        produced_in.as_secs_f64(),
        ingest_time.as_secs_f64(),
    );
}
