//! Models over the wire: persistence across restarts (bit-identical
//! predictions), incremental refresh, PREDICT inside a pipeline's SET,
//! training that leaves other sessions free, and metrics checked against
//! scikit-learn.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::kafka::Tansu;
use crate::support::{Brook, message};

/// A table of `rows` deterministic rows: two numeric features (one with
/// NULLs), a text feature and a boolean label that depends on all three.
async fn seed_table(client: &Client, table: &str, rows: i64, offset: i64) {
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (a double precision, b double precision, kind text, label boolean)"
        ))
        .await
        .unwrap();
    let values: Vec<String> = (offset..offset + rows)
        .map(|i| {
            // A cheap deterministic scramble, so rows are not sorted by label.
            let a = ((i * 7919) % 1000) as f64 / 100.0;
            let b = if i % 13 == 0 {
                "NULL".to_string()
            } else {
                format!("{}", ((i * 104_729) % 500) as f64 / 50.0)
            };
            let kind = ["x", "y", "z"][(i % 3) as usize];
            let score = a - 5.0 + if kind == "x" { 2.0 } else { 0.0 } + ((i * 31) % 7) as f64 - 3.0;
            format!("({a}, {b}, '{kind}', {})", score > 0.0)
        })
        .collect();
    for chunk in values.chunks(500) {
        client
            .batch_execute(&format!("INSERT INTO {table} VALUES {}", chunk.join(", ")))
            .await
            .unwrap();
    }
}

async fn probabilities(client: &Client, model: &str) -> Vec<(f64, bool)> {
    client
        .query(
            &format!(
                "SELECT PREDICT_PROBA('{model}', a, b, kind), PREDICT('{model}', a, b, kind) \
                 FROM data ORDER BY a, b, kind"
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("predict {model}: {}", message(&e)))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_survive_a_crash_and_predict_bit_identically() {
    let brook = Brook::start();
    let client = brook.client().await;
    seed_table(&client, "data", 600, 0).await;
    for (name, kind) in [
        ("logit", "logistic_reg"),
        ("forest", "random_forest"),
        ("tree", "decision_tree"),
        ("bayes", "naive_bayes"),
    ] {
        client
            .batch_execute(&format!(
                "CREATE MODEL {name} OPTIONS (model_type = '{kind}', input_label_cols = ['label'], \
                 class_weight = 'balanced', seed = 5, num_trees = 10) AS SELECT a, b, kind, label FROM data"
            ))
            .await
            .unwrap_or_else(|e| panic!("create {name}: {}", message(&e)));
    }
    client
        .batch_execute(
            "SELECT TRAIN('logit', '{\"model_type\": \"logistic_reg\", \"seed\": 9}', label, a, b, kind) FROM data",
        )
        .await
        .unwrap();
    let mut before = vec![];
    for model in ["logit", "logit@1", "forest", "tree", "bayes"] {
        before.push(probabilities(&client, model).await);
    }
    // The models learnt something: far better than chance on their own data.
    let agree = |p: &[(f64, bool)]| p.iter().filter(|(_, c)| *c).count();
    assert!(agree(&before[0]) > 0 && agree(&before[0]) < 600);

    let brook = brook.crash_and_restart();
    let client = brook.client().await;
    let versions: i64 = client
        .query_one("SELECT count(*) FROM information_schema.models", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, 5, "4 models, logit with 2 versions");
    for (i, model) in ["logit", "logit@1", "forest", "tree", "bayes"]
        .iter()
        .enumerate()
    {
        let after = probabilities(&client, model).await;
        assert_eq!(after.len(), before[i].len());
        for (a, b) in after.iter().zip(&before[i]) {
            assert_eq!(a.0.to_bits(), b.0.to_bits(), "{model}: {} vs {}", a.0, b.0);
            assert_eq!(a.1, b.1);
        }
    }
    // Retraining with the same options and seed on the same rows (scanned
    // in whatever order) gives the same model. (Trees are left out: linfa's
    // tree fitting sums class weights in HashMap order, which differs
    // between processes, so near-ties can split differently.)
    client
        .batch_execute(
            "CREATE MODEL again OPTIONS (model_type = 'logistic_reg', input_label_cols = ['label'], \
             class_weight = 'balanced', seed = 5, num_trees = 10) AS SELECT a, b, kind, label FROM data",
        )
        .await
        .unwrap();
    let again = probabilities(&client, "again").await;
    assert_eq!(
        again.iter().map(|p| p.0.to_bits()).collect::<Vec<_>>(),
        before[1].iter().map(|p| p.0.to_bits()).collect::<Vec<_>>()
    );
}

async fn weights(client: &Client) -> Vec<(String, f64)> {
    client
        .query(
            "SELECT processed_input, weight FROM MODEL_WEIGHTS('live') ORDER BY processed_input",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, f64>(1)))
        .collect()
}

async fn current_version(client: &Client, model: &str) -> i64 {
    client
        .query_one(&format!("SELECT MODEL_VERSION('{model}')"), &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_refresh_learns_new_rows_and_scores_them_first() {
    let brook = Brook::start();
    let client = brook.client().await;
    seed_table(&client, "data", 300, 0).await;
    client
        .batch_execute(
            "CREATE MODEL live OPTIONS (model_type = 'logistic_reg', input_label_cols = ['label'], \
             refresh = 'incremental', refresh_interval_ms = 200, l2_reg = 1) \
             AS SELECT a, b, kind, label FROM data",
        )
        .await
        .unwrap();
    let first = weights(&client).await;
    // Without new rows, no new version.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(current_version(&client, "live").await, 1);

    seed_table(&client, "data", 300, 300).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while current_version(&client, "live").await < 2 {
        assert!(
            Instant::now() < deadline,
            "no refresh; log: {}",
            brook.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = weights(&client).await;
    assert_ne!(first, second, "a refresh changes the weights");
    let row = client
        .query_one(
            "SELECT rows_trained, progressive_score, refresh FROM information_schema.models \
             WHERE model_name = 'live' AND version = 2",
            &[],
        )
        .await
        .unwrap();
    let rows: i64 = row.get(0);
    let progressive: Option<f64> = row.get(1);
    assert!(rows > 400, "trained on old and new rows: {rows}");
    let progressive = progressive.expect("new rows were scored before they were learnt");
    assert!((0.0..=1.0).contains(&progressive));
    assert!(progressive > 0.5, "progressive accuracy {progressive}");
    assert_eq!(row.get::<_, String>(2), "incremental");

    // The refresh task comes back after a restart.
    let brook = brook.restart();
    let client = brook.client().await;
    let version = current_version(&client, "live").await;
    seed_table(&client, "data", 200, 600).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while current_version(&client, "live").await <= version {
        assert!(
            Instant::now() < deadline,
            "no refresh after restart; log: {}",
            brook.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_leaves_other_sessions_answering() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE big AS SELECT CAST(value % 97 AS double precision) AS a, \
             CAST(value % 89 AS double precision) AS b, value % 2 = 0 AS label \
             FROM generate_series(1, 100000)",
        )
        .await
        .unwrap();
    let trainer = brook.client().await;
    let training = tokio::spawn(async move {
        trainer
            .batch_execute(
                "CREATE MODEL slow OPTIONS (model_type = 'random_forest', input_label_cols = ['label'], \
                 num_trees = 10, max_depth = 8) AS SELECT a, b, label FROM big",
            )
            .await
    });
    // While it trains, another session is served (and sees no model yet).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let other = brook.client().await;
    let one: i32 = other.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    assert!(
        !training.is_finished(),
        "the training finished too soon to show anything"
    );
    training.await.unwrap().unwrap();
    assert_eq!(current_version(&other, "slow").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_scores_messages_with_predict_in_set() {
    let kafka = Tansu::start();
    kafka.create_topic("incoming", 2).await;
    let brook = Brook::start();
    let client = brook.client().await;
    seed_table(&client, "data", 300, 0).await;
    client
        .batch_execute(
            "CREATE MODEL scorer OPTIONS (model_type = 'logistic_reg', input_label_cols = ['label']) \
             AS SELECT a, b, kind, label FROM data; \
             CREATE TABLE scored (a double precision, b double precision, kind text, \
               predicted boolean, probability double precision, model_version bigint)",
        )
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE PIPELINE score AS LOAD DATA KAFKA '{}/incoming' BATCH_INTERVAL 100 \
             INTO TABLE scored FORMAT JSON (a <- a, b <- b, kind <- kind) \
             SET predicted = PREDICT('scorer', a, b, kind), \
                 probability = PREDICT_PROBA('scorer', a, b, kind), \
                 model_version = MODEL_VERSION('scorer')",
            kafka.brokers()
        ))
        .await
        .unwrap_or_else(|e| panic!("create pipeline: {}", message(&e)));
    let messages = (0..200).map(|i: i64| {
        let kind = ["x", "y", "z"][(i % 3) as usize];
        let v = serde_json::json!({"a": (i % 10) as f64, "b": (i % 7) as f64, "kind": kind});
        ((i % 2) as i32, v.to_string().into_bytes())
    });
    kafka.produce("incoming", messages).await;
    client.batch_execute("START PIPELINE score").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n: i64 = client
            .query_one("SELECT count(*) FROM scored", &[])
            .await
            .unwrap()
            .get(0);
        if n == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "{n} rows; log: {}", brook.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the pipeline stored is what PREDICT says for the same features.
    let disagree: i64 = client
        .query_one(
            "SELECT count(*) FROM scored WHERE (predicted IS DISTINCT FROM PREDICT('scorer', a, b, kind)) \
             OR (probability IS DISTINCT FROM PREDICT_PROBA('scorer', a, b, kind)) OR model_version <> 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(disagree, 0);

    // A model trained on the pipeline's table records the offsets its rows reach.
    client
        .batch_execute(
            "CREATE MODEL from_stream OPTIONS (model_type = 'linear_reg', input_label_cols = ['probability']) \
             AS SELECT a, b, probability FROM scored",
        )
        .await
        .unwrap();
    let lineage: String = client
        .query_one(
            "SELECT lineage FROM information_schema.models WHERE model_name = 'from_stream'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let lineage: serde_json::Value = serde_json::from_str(&lineage).unwrap();
    let mut offsets: Vec<(String, i64)> = lineage["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["partition"].as_str().unwrap().to_string(),
                o["next_offset"].as_i64().unwrap(),
            )
        })
        .collect();
    offsets.sort();
    assert_eq!(
        offsets,
        vec![("score/0".to_string(), 100), ("score/1".to_string(), 100)]
    );
    assert_eq!(lineage["tables"][0]["table"], "scored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_agree_with_scikit_learn() {
    let brook = Brook::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ml_metrics.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(brook.conn_string())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}\nlog: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        brook.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_reports_progress_as_notices_in_psql() {
    let brook = Brook::start();
    let client = brook.client().await;
    seed_table(&client, "data", 200, 0).await;
    let (out, err, ok) = brook.psql(&[
        "-c",
        "CREATE MODEL m OPTIONS (model_type = 'decision_tree', input_label_cols = ['label'], \
         num_folds = 2, hparam_tuning = '{\"max_depth\": [2, 4]}') AS SELECT a, b, kind, label FROM data",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("CREATE MODEL"), "{out}");
    for expected in [
        "NOTICE:  read 200 rows",
        "NOTICE:  training decision_tree m on 200 rows with 3 features",
        "NOTICE:  trial 1/2: {\"max_depth\":2} scored",
        "NOTICE:  trial 2/2: {\"max_depth\":4} scored",
        "NOTICE:  model m version 1: trained on 160 rows",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}
