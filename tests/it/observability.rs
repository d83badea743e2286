//! What an operator watches: Prometheus metrics scraped during ingest,
//! `information_schema.sessions` with `pg_cancel_backend`, and EXPLAIN /
//! EXPLAIN ANALYZE over both protocols.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tokio_postgres::SimpleQueryMessage;

use crate::kafka::Tansu;
use crate::pipelines::{json, wait_state};
use crate::support::{Brook, free_port, message, sqlstate, wait_for};

/// `GET path` on the metrics endpoint: (status line, body).
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout set");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The value of the series `name{labels}` (labels as Prometheus prints them,
/// e.g. `pipeline="ev"`), if present.
fn sample(body: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_move_during_ingest_and_prediction() {
    let kafka = Tansu::start();
    kafka.create_topic("metered", 2).await;
    kafka
        .produce(
            "metered",
            (0..500).map(|i: i64| {
                (
                    (i % 2) as i32,
                    json(serde_json::json!({"id": i, "x": i % 7})),
                )
            }),
        )
        .await;
    let metrics_port = free_port();
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--metrics".to_string(), format!("127.0.0.1:{metrics_port}")],
    );
    let client = brook.client().await;

    let (status, _) = http_get(metrics_port, "/nothing");
    assert!(status.contains("404"), "{status}");
    let (status, body) = http_get(metrics_port, "/metrics");
    assert!(status.contains("200"), "{status}\n{body}");
    assert_eq!(sample(&body, "brook_sessions", ""), Some(1.0), "{body}");

    client
        .batch_execute(&format!(
            "CREATE TABLE metered (id bigint NOT NULL, x int); \
             CREATE PIPELINE ev AS LOAD DATA KAFKA '{}/metered' BATCH_INTERVAL 100 \
             INTO TABLE metered FORMAT JSON (id <- id, x <- x) WHERE id <> 7; \
             START PIPELINE ev",
            kafka.brokers()
        ))
        .await
        .unwrap_or_else(|e| panic!("{}; log: {}", message(&e), brook.log()));
    wait_for(&brook, &client, "SELECT count(*) FROM metered", 499).await;
    wait_state(&brook, &client, "ev", "Running").await;

    let (_, body) = http_get(metrics_port, "/metrics");
    let ev = "pipeline=\"ev\"";
    assert_eq!(
        sample(&body, "brook_pipeline_rows_total", ev),
        Some(499.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "brook_pipeline_messages_total", ev),
        Some(500.0)
    );
    assert_eq!(
        sample(&body, "brook_pipeline_filtered_total", ev),
        Some(1.0)
    );
    assert_eq!(sample(&body, "brook_pipeline_errors_total", ev), Some(0.0));
    assert!(sample(&body, "brook_pipeline_bytes_total", ev).unwrap_or(0.0) > 5000.0);
    let batches = sample(
        &body,
        "brook_pipeline_batches_total",
        "pipeline=\"ev\",status=\"Succeeded\"",
    )
    .unwrap_or(0.0);
    assert!(batches >= 1.0, "{body}");
    assert_eq!(sample(&body, "brook_pipeline_lag_messages", ev), Some(0.0));
    assert_eq!(sample(&body, "brook_pipeline_running", ev), Some(1.0));
    let queries_before = sample(
        &body,
        "brook_queries_total",
        "protocol=\"simple\",outcome=\"ok\"",
    )
    .unwrap_or(0.0);
    assert!(queries_before >= 1.0, "{body}");
    assert!(
        body.contains("brook_query_duration_seconds_bucket{protocol=\"simple\",le=\"0.1\"}"),
        "{body}"
    );

    // More messages: the counters move by exactly that much.
    kafka
        .produce(
            "metered",
            (500..700).map(|i: i64| {
                (
                    (i % 2) as i32,
                    json(serde_json::json!({"id": i, "x": i % 7})),
                )
            }),
        )
        .await;
    wait_for(&brook, &client, "SELECT count(*) FROM metered", 699).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (_, body) = http_get(metrics_port, "/metrics");
        if sample(&body, "brook_pipeline_rows_total", ev) == Some(699.0)
            || Instant::now() > deadline
        {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        sample(&body, "brook_pipeline_rows_total", ev),
        Some(699.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "brook_pipeline_messages_total", ev),
        Some(700.0)
    );

    // A failed statement counts as an error; predictions count rows per model.
    let _ = client.simple_query("SELECT nothing FROM metered").await;
    client
        .batch_execute(
            "CREATE MODEL big OPTIONS (model_type = 'logistic_reg', input_label_cols = ['label']) \
             AS SELECT x, id % 2 = 0 AS label FROM metered",
        )
        .await
        .unwrap_or_else(|e| panic!("{}; log: {}", message(&e), brook.log()));
    let rows = client
        .simple_query("SELECT PREDICT('big', x) FROM metered WHERE id < 100")
        .await
        .expect("predict");
    let predicted = rows
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count();
    // id 7 was filtered out by the pipeline's WHERE.
    assert_eq!(predicted, 99);
    let (_, body) = http_get(metrics_port, "/metrics");
    assert_eq!(
        sample(&body, "brook_model_predictions_total", "model=\"big\""),
        Some(99.0),
        "{body}"
    );
    assert!(
        sample(
            &body,
            "brook_queries_total",
            "protocol=\"simple\",outcome=\"error\""
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{body}"
    );
    assert!(
        sample(
            &body,
            "brook_queries_total",
            "protocol=\"simple\",outcome=\"ok\""
        )
        .unwrap_or(0.0)
            > queries_before,
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_pg_cancel_backend_cancels_one() {
    let brook = Brook::start();
    let (worker, connection) = tokio_postgres::connect(
        &format!("{} application_name=nightly-report", brook.conn_string()),
        tokio_postgres::NoTls,
    )
    .await
    .expect("worker connects");
    tokio::spawn(connection);
    let admin = brook.client().await;

    let worker_pid: i32 = worker
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pg_backend_pid")
        .get(0);
    let admin_pid: i32 = admin
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pg_backend_pid")
        .get(0);
    assert_ne!(worker_pid, admin_pid);

    let long = "SELECT count(*) FROM generate_series(1, 20000000000) AS a(v) WHERE v % 7 = 3";
    let running = tokio::spawn(async move {
        let outcome = worker.simple_query(long).await;
        (worker, outcome)
    });
    // The admin sees the worker's statement, then cancels it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = admin
            .query(
                "SELECT pid, usename, application_name, state, query FROM information_schema.sessions \
                 WHERE pid <> pg_backend_pid() ORDER BY pid",
                &[],
            )
            .await
            .expect("sessions");
        let active = rows.iter().find(|r| {
            r.get::<_, i32>("pid") == worker_pid && r.get::<_, String>("state") == "active"
        });
        if let Some(row) = active {
            assert_eq!(row.get::<_, String>("application_name"), "nightly-report");
            assert_eq!(row.get::<_, String>("usename"), "brook");
            assert!(row.get::<_, String>("query").contains("generate_series"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "worker never showed active: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A literal pid, as an operator types it (DataFusion infers no type for
    // a parameter in a function's argument).
    let cancelled: bool = admin
        .query_one(&format!("SELECT pg_cancel_backend({worker_pid})"), &[])
        .await
        .expect("pg_cancel_backend")
        .get(0);
    assert!(cancelled);
    let (worker, outcome) = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the cancelled statement ends")
        .expect("task");
    let error = outcome.expect_err("the statement was cancelled");
    assert_eq!(sqlstate(&error), "57014", "{}", message(&error));
    // The worker's session goes on, now idle with its last statement shown.
    let one: i32 = worker
        .query_one("SELECT 1", &[])
        .await
        .expect("usable")
        .get(0);
    assert_eq!(one, 1);
    let state: String = admin
        .query_one(
            "SELECT state FROM information_schema.sessions WHERE pid = $1",
            &[&worker_pid],
        )
        .await
        .expect("listed")
        .get(0);
    assert_eq!(state, "idle");
    // An unknown pid: false, as in PostgreSQL.
    let unknown: bool = admin
        .query_one("SELECT pg_cancel_backend(-1)", &[])
        .await
        .expect("pg_cancel_backend")
        .get(0);
    assert!(!unknown);
    drop(worker);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = admin
            .query(
                "SELECT pid FROM information_schema.sessions WHERE pid = $1",
                &[&worker_pid],
            )
            .await
            .expect("sessions");
        if rows.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "closed session still listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_explain_analyze_on_both_protocols() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE t (k int, v double precision); \
             INSERT INTO t SELECT CAST(v % 10 AS int), v FROM unnest(range(0, 1000)) AS s(v)",
        )
        .await
        .expect("setup");
    let sql = "SELECT k, sum(v) FROM t GROUP BY k";
    // Simple protocol (psql's).
    let messages = client
        .simple_query(&format!("EXPLAIN {sql}"))
        .await
        .expect("EXPLAIN");
    let kinds: Vec<String> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["logical_plan", "physical_plan"]);
    // Extended protocol (drivers'), with EXPLAIN ANALYZE's measured rows.
    let rows = client
        .query(&format!("EXPLAIN ANALYZE {sql}"), &[])
        .await
        .expect("EXPLAIN ANALYZE");
    let plan: String = rows
        .iter()
        .map(|r| r.get::<_, String>(1))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(rows[0].get::<_, String>(0), "Plan with Metrics");
    assert!(plan.contains("AggregateExec"), "{plan}");
    assert!(plan.contains("output_rows=10"), "{plan}");
    assert!(plan.contains("elapsed_compute="), "{plan}");
    // A bad statement under EXPLAIN fails the way the statement would.
    let error = client
        .query("EXPLAIN SELECT nothing FROM t", &[])
        .await
        .expect_err("unknown column");
    assert_eq!(sqlstate(&error), "42703", "{}", message(&error));
}

#[test]
fn long_dml_reports_progress_as_notices() {
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--notice-interval".to_string(), "50ms".to_string()],
    );
    let (out, err, ok) = brook.psql(&[
        "-c",
        "CREATE TABLE backfill (v bigint NOT NULL, doubled bigint)",
        "-c",
        "INSERT INTO backfill SELECT v, v * 2 FROM generate_series(1, 3000000) AS s(v)",
        "-c",
        "SELECT count(*), sum(doubled) FROM backfill",
    ]);
    assert!(ok, "{err}\nlog:\n{}", brook.log());
    assert!(out.contains("INSERT 0 3000000"), "{out}");
    let totals: Vec<&str> = out
        .lines()
        .filter(|l| l.contains('|'))
        .flat_map(|l| l.split('|').map(str::trim))
        .collect();
    assert!(totals.ends_with(&["3000000", "9000003000000"]), "{out}");
    assert!(
        err.contains("NOTICE:  INSERT is still running"),
        "no progress notice on stderr:\n{err}"
    );
    // A quick statement says nothing.
    let (_, err, ok) = brook.psql(&["-c", "DELETE FROM backfill WHERE v < 0"]);
    assert!(ok, "{err}");
    assert!(!err.contains("NOTICE"), "{err}");
}
