//! Kafka pipelines against a real broker (tansu) and a real `brook serve`,
//! through tokio-postgres: mapping, SET/WHERE, positions, restarts, crashes,
//! bad messages, broker outages, and the errors a user sees.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::kafka::Tansu;
use crate::support::{Brook, count, message, sqlstate, wait_for};

/// Poll until the pipeline reaches `state`; returns its last_error.
pub async fn wait_state(
    brook: &Brook,
    client: &Client,
    pipeline: &str,
    state: &str,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = String::new();
    while Instant::now() < deadline {
        let row = client
            .query_one(
                "SELECT state, last_error FROM information_schema.pipelines WHERE pipeline_name = $1",
                &[&pipeline],
            )
            .await
            .expect("pipeline listed");
        seen = row.get(0);
        if seen == state {
            return row.get(1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "pipeline {pipeline} stayed {seen}, expected {state}; log: {}",
        brook.log()
    );
}

pub fn json(value: serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_pipeline_maps_paths_defaults_casts_set_and_where() {
    let kafka = Tansu::start();
    kafka.create_topic("events", 3).await;
    let messages = (0..300).map(|i: i64| {
        let mut v = serde_json::json!({
            "id": i,
            "amount": if i % 2 == 0 { serde_json::json!("12.50") } else { serde_json::json!(7.25) },
            "ts": "2024-05-01T10:00:00Z",
            "n": i.to_string(),
        });
        if i % 3 != 0 {
            v["user"] = serde_json::json!({"address": {"city": "Oslo"}});
        }
        ((i % 3) as i32, json(v))
    });
    kafka.produce("events", messages).await;

    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE events (id bigint NOT NULL, city text DEFAULT 'unknown', \
             amount numeric(10,2), at timestamptz, doubled int, tag text, source text DEFAULT 'kafka')",
        )
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE PIPELINE ev AS LOAD DATA KAFKA '{}/events' BATCH_INTERVAL 100 \
             INTO TABLE events FORMAT JSON (id <- id, city <- user::address::city, \
             amount <- amount DEFAULT 0, at <- ts, @n <- n) \
             SET doubled = CAST(@n AS int) * 2, tag = upper(city) \
             WHERE id % 10 <> 0",
            kafka.brokers()
        ))
        .await
        .unwrap_or_else(|e| panic!("create pipeline: {}; log: {}", message(&e), brook.log()));
    // Created pipelines start Stopped and load nothing.
    assert_eq!(count(&client, "SELECT count(*) FROM events").await, 0);
    client.batch_execute("START PIPELINE ev").await.unwrap();
    wait_for(&brook, &client, "SELECT count(*) FROM events", 270).await;

    // Missing path: the column DEFAULT; SET sees the decoded values.
    let expected_unknown = (0..300).filter(|i| i % 3 == 0 && i % 10 != 0).count() as i64;
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM events WHERE city = 'unknown' AND tag = 'UNKNOWN'"
        )
        .await,
        expected_unknown
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM events WHERE city = 'Oslo' AND tag = 'OSLO'"
        )
        .await,
        270 - expected_unknown
    );
    let expected_doubled: i64 = (0..300).filter(|i| i % 10 != 0).map(|i| 2 * i).sum();
    assert_eq!(
        count(&client, "SELECT sum(doubled) FROM events").await,
        expected_doubled
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM events WHERE source = 'kafka'"
        )
        .await,
        270
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM events WHERE amount = 12.50 AND id % 2 = 0"
        )
        .await,
        (0..300).filter(|i| i % 2 == 0 && i % 10 != 0).count() as i64
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM events WHERE at = TIMESTAMPTZ '2024-05-01 10:00:00+00'"
        )
        .await,
        270
    );
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM events").await,
        270
    );

    // The system tables tell the same story.
    let row = client
        .query_one(
            "SELECT state, source, table_name, batch_interval_ms, config, last_error \
             FROM information_schema.pipelines WHERE pipeline_name = 'ev'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Running");
    assert_eq!(
        row.get::<_, String>(1),
        format!("{}/events", kafka.brokers())
    );
    assert_eq!(row.get::<_, String>(2), "events");
    assert_eq!(row.get::<_, i64>(3), 100);
    assert_eq!(row.get::<_, String>(4), "{}");
    assert_eq!(row.get::<_, Option<String>>(5), None);
    assert_eq!(
        count(
            &client,
            "SELECT sum(rows) + sum(filtered) + sum(errors) FROM information_schema.pipelines_batches_summary"
        )
        .await,
        300
    );
    assert_eq!(
        count(
            &client,
            "SELECT sum(filtered) FROM information_schema.pipelines_batches_summary"
        )
        .await,
        30
    );
    assert_eq!(
        count(
            &client,
            "SELECT sum(committed_offset) FROM information_schema.pipelines_cursors WHERE pipeline_name = 'ev'"
        )
        .await,
        300
    );
    wait_for(
        &brook,
        &client,
        "SELECT count(*) FROM information_schema.pipelines_cursors WHERE lag = 0 AND high_watermark = 100",
        3,
    )
    .await;
    let shown = client.simple_query("SHOW PIPELINES").await.unwrap();
    let text = format!("{shown:?}");
    assert!(text.contains("ev") && text.contains("Running"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_pipeline_with_variables_and_test_pipeline() {
    let kafka = Tansu::start();
    kafka.create_topic("people", 1).await;
    kafka
        .produce(
            "people",
            [
                (0, b"Ann;x;31".to_vec()),
                (0, b"\"Bo; Jr\";y;\\N".to_vec()),
                (0, b"Cy;z;45\n".to_vec()),
            ],
        )
        .await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE people (name text NOT NULL, age int, note text, city text)")
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE PIPELINE ppl AS LOAD DATA KAFKA '{}/people' BATCH_INTERVAL 50 \
             INTO TABLE people FORMAT CSV FIELDS TERMINATED BY ';' (name, @code, age) \
             SET note = 'code ' || @code",
            kafka.brokers()
        ))
        .await
        .unwrap();
    // TEST shows what would load, and loads nothing.
    let rows = client
        .query("TEST PIPELINE ppl LIMIT 10", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].get::<_, String>("name"), "Ann");
    assert_eq!(rows[0].get::<_, Option<i32>>("age"), Some(31));
    assert_eq!(rows[1].get::<_, String>("name"), "Bo; Jr");
    assert_eq!(rows[1].get::<_, Option<i32>>("age"), None);
    assert_eq!(count(&client, "SELECT count(*) FROM people").await, 0);

    let loaded = client
        .execute("START PIPELINE ppl FOREGROUND", &[])
        .await
        .unwrap();
    assert_eq!(loaded, 3);
    let rows = client
        .query(
            "SELECT name, age, note, city FROM people ORDER BY name",
            &[],
        )
        .await
        .unwrap();
    type Person = (String, Option<i32>, Option<String>, Option<String>);
    let got: Vec<Person> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Ann".into(), Some(31), Some("code x".into()), None),
            ("Bo; Jr".into(), None, Some("code y".into()), None),
            ("Cy".into(), Some(45), Some("code z".into()), None),
        ]
    );
    // A second foreground run finds nothing new.
    assert_eq!(
        client
            .execute("START PIPELINE ppl FOREGROUND", &[])
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_start_keeps_position_and_set_offsets_moves_it() {
    let kafka = Tansu::start();
    kafka.create_topic("ticks", 1).await;
    let batch = |from: i64, to: i64| (from..to).map(|i| (0, json(serde_json::json!({ "id": i }))));
    kafka.produce("ticks", batch(0, 10)).await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE ticks (id bigint)")
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE PIPELINE t AS LOAD DATA KAFKA '{}/ticks' BATCH_INTERVAL 50 INTO TABLE ticks FORMAT JSON",
            kafka.brokers()
        ))
        .await
        .unwrap();
    client.batch_execute("START PIPELINE t").await.unwrap();
    wait_for(&brook, &client, "SELECT count(*) FROM ticks", 10).await;
    client.batch_execute("STOP PIPELINE t").await.unwrap();
    assert_eq!(wait_state(&brook, &client, "t", "Stopped").await, None);
    kafka.produce("ticks", batch(10, 15)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        count(&client, "SELECT count(*) FROM ticks").await,
        10,
        "stopped means stopped"
    );
    client.batch_execute("START PIPELINE t").await.unwrap();
    wait_for(&brook, &client, "SELECT count(*) FROM ticks", 15).await;
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM ticks").await,
        15
    );

    // Offsets can only move while stopped.
    let err = client
        .batch_execute("ALTER PIPELINE t SET OFFSETS EARLIEST")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "55006");
    assert!(
        message(&err).contains("STOP PIPELINE t"),
        "{}",
        message(&err)
    );

    client.batch_execute("STOP PIPELINE t").await.unwrap();
    client
        .batch_execute("ALTER PIPELINE t SET OFFSETS '{\"0\": 12}'")
        .await
        .unwrap();
    client.batch_execute("START PIPELINE t").await.unwrap();
    wait_for(&brook, &client, "SELECT count(*) FROM ticks", 18).await;
    assert_eq!(
        count(&client, "SELECT count(*) FROM ticks WHERE id >= 12").await,
        6
    );

    client.batch_execute("STOP PIPELINE t").await.unwrap();
    client
        .batch_execute("ALTER PIPELINE t SET OFFSETS LATEST")
        .await
        .unwrap();
    client.batch_execute("START PIPELINE t").await.unwrap();
    kafka.produce("ticks", batch(15, 17)).await;
    wait_for(&brook, &client, "SELECT count(*) FROM ticks", 20).await;
    assert_eq!(
        count(&client, "SELECT count(*) FROM ticks WHERE id >= 15").await,
        2
    );

    // Unknown pipelines and DROP.
    let err = client
        .batch_execute("STOP PIPELINE nope")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42704");
    let err = client.batch_execute("DROP TABLE ticks").await.unwrap_err();
    assert_eq!(sqlstate(&err), "2BP01");
    client.batch_execute("DROP PIPELINE t").await.unwrap();
    assert_eq!(
        count(&client, "SELECT count(*) FROM information_schema.pipelines").await,
        0
    );
    client.batch_execute("DROP TABLE ticks").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_resumes_without_loss_or_duplicate() {
    let kafka = Tansu::start();
    kafka.create_topic("orders", 2).await;
    let orders = |from: i64, to: i64| {
        (from..to).map(|i| {
            (
                (i % 2) as i32,
                json(serde_json::json!({ "id": i, "qty": i % 7 })),
            )
        })
    };
    kafka.produce("orders", orders(0, 1000)).await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE orders (id bigint, qty int)")
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE PIPELINE o AS LOAD DATA KAFKA '{}/orders' BATCH_INTERVAL 100 INTO TABLE orders FORMAT JSON; \
             START PIPELINE o;",
            kafka.brokers()
        ))
        .await
        .unwrap();
    wait_for(&brook, &client, "SELECT count(*) FROM orders", 1000).await;
    drop(client);
    let brook = brook.restart();
    kafka.produce("orders", orders(1000, 2000)).await;
    let client = brook.client().await;
    wait_for(&brook, &client, "SELECT count(*) FROM orders", 2000).await;
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM orders").await,
        2000
    );
    assert_eq!(wait_state(&brook, &client, "o", "Running").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_and_duplicates_nothing() {
    const MESSAGES: i64 = 100_000;
    let kafka = Tansu::start();
    kafka.create_topic("keys", 3).await;
    kafka
        .produce(
            "keys",
            (0..MESSAGES).map(|i| {
                (
                    (i % 3) as i32,
                    json(serde_json::json!({ "k": i, "v": "x" })),
                )
            }),
        )
        .await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE keys (k bigint NOT NULL, v text)")
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE PIPELINE kp AS LOAD DATA KAFKA '{}/keys' BATCH_INTERVAL 50 \
             MAX_OFFSETS_PER_BATCH_PARTITION 2000 INTO TABLE keys FORMAT JSON; START PIPELINE kp",
            kafka.brokers()
        ))
        .await
        .unwrap();
    // Kill while batches are being committed.
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&client, "SELECT count(*) FROM keys").await < 10_000 {
        assert!(
            Instant::now() < deadline,
            "ingest did not start: {}",
            brook.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(client);
    let brook = brook.crash_and_restart();
    let client = brook.client().await;
    wait_for(&brook, &client, "SELECT count(*) FROM keys", MESSAGES).await;
    assert_eq!(
        count(&client, "SELECT count(DISTINCT k) FROM keys").await,
        MESSAGES
    );
    assert_eq!(count(&client, "SELECT min(k) FROM keys").await, 0);
    assert_eq!(
        count(&client, "SELECT max(k) FROM keys").await,
        MESSAGES - 1
    );
}

/// 10,000 messages on one partition, every tenth one bad in a different way.
fn mixed_messages() -> (Vec<(i32, Vec<u8>)>, Vec<usize>) {
    let mut messages = Vec::new();
    let mut bad = Vec::new();
    for i in 0..10_000usize {
        let payload = if i % 10 == 7 {
            bad.push(i);
            match (i / 10) % 5 {
                0 => b"{\"id\": 1, \"name\": ".to_vec(),
                1 => json(serde_json::json!({ "id": "not a number", "name": "x" })),
                2 => Vec::new(),
                3 => vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff],
                _ if i == 9_997 => vec![b'x'; 1_000_000],
                _ => b"[1, 2, 3]".to_vec(),
            }
        } else {
            json(serde_json::json!({ "id": i, "name": format!("n{i}") }))
        };
        messages.push((0, payload));
    }
    (messages, bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_kept_or_stop_the_pipeline_and_every_message_is_counted() {
    let kafka = Tansu::start();
    kafka.create_topic("mixed", 1).await;
    let (messages, bad) = mixed_messages();
    let payloads: Vec<Vec<u8>> = messages.iter().map(|(_, p)| p.clone()).collect();
    kafka.produce("mixed", messages).await;
    let brook = Brook::start();
    let client = brook.client().await;
    for table in ["all_errors", "parser_errors", "no_skip"] {
        client
            .batch_execute(&format!(
                "CREATE TABLE {table} (id bigint NOT NULL, name text)"
            ))
            .await
            .unwrap();
    }
    let source = format!("{}/mixed", kafka.brokers());
    client
        .batch_execute(&format!(
            "CREATE PIPELINE p_all AS LOAD DATA KAFKA '{source}' BATCH_INTERVAL 100 \
             SKIP ALL ERRORS INTO TABLE all_errors FORMAT JSON; \
             CREATE PIPELINE p_parser AS LOAD DATA KAFKA '{source}' BATCH_INTERVAL 100 \
             MAX_OFFSETS_PER_BATCH_PARTITION 100 SKIP PARSER ERRORS INTO TABLE parser_errors FORMAT JSON; \
             CREATE PIPELINE p_none AS LOAD DATA KAFKA '{source}' BATCH_INTERVAL 100 \
             MAX_OFFSETS_PER_BATCH_PARTITION 100 INTO TABLE no_skip FORMAT JSON; \
             START PIPELINE p_all; START PIPELINE p_parser; START PIPELINE p_none;"
        ))
        .await
        .unwrap();

    // SKIP ALL ERRORS: every good message is a row, every bad one an error row.
    wait_for(&brook, &client, "SELECT count(*) FROM all_errors", 9_000).await;
    wait_for(
        &brook,
        &client,
        "SELECT count(*) FROM information_schema.pipelines_errors WHERE pipeline_name = 'p_all'",
        1_000,
    )
    .await;
    assert_eq!(
        count(
            &client,
            "SELECT sum(rows) + sum(filtered) + sum(errors) FROM information_schema.pipelines_batches_summary \
             WHERE pipeline_name = 'p_all'"
        )
        .await,
        10_000
    );
    let kept = client
        .query(
            "SELECT \"offset\", error, payload, topic, partition FROM information_schema.pipelines_errors \
             WHERE pipeline_name = 'p_all' ORDER BY \"offset\"",
            &[],
        )
        .await
        .unwrap();
    let offsets: Vec<usize> = kept.iter().map(|r| r.get::<_, i64>(0) as usize).collect();
    assert_eq!(offsets, bad);
    for row in &kept {
        let offset = row.get::<_, i64>(0) as usize;
        let payload: Option<Vec<u8>> = row.get(2);
        assert_eq!(
            payload.unwrap_or_default(),
            payloads[offset],
            "payload of {offset}"
        );
        assert_eq!(row.get::<_, String>(3), "mixed");
        assert_eq!(row.get::<_, i32>(4), 0);
    }
    let reasons: Vec<String> = kept.iter().map(|r| r.get(1)).collect();
    assert!(reasons[0].contains("invalid JSON"), "{}", reasons[0]);
    assert!(
        reasons[1].contains("type bigint") && reasons[1].contains("not a number"),
        "{}",
        reasons[1]
    );
    assert!(reasons[2].contains("empty"), "{}", reasons[2]);
    assert!(reasons[3].contains("UTF-8"), "{}", reasons[3]);

    // SKIP PARSER ERRORS: parse errors are kept, the first wrong type stops it.
    let first_wrong_type = bad[1];
    let error = wait_state(&brook, &client, "p_parser", "Error")
        .await
        .unwrap_or_default();
    assert!(
        error.contains(&format!("partition 0 offset {first_wrong_type}"))
            && error.contains("\"mixed\"")
            && error.contains("not a number"),
        "{error}"
    );
    let committed = count(
        &client,
        "SELECT coalesce(max(committed_offset), 0) FROM information_schema.pipelines_cursors \
         WHERE pipeline_name = 'p_parser'",
    )
    .await as usize;
    assert!(
        committed <= first_wrong_type,
        "{committed} > {first_wrong_type}"
    );
    let good_before = (0..committed).filter(|i| !bad.contains(i)).count() as i64;
    assert_eq!(
        count(&client, "SELECT count(*) FROM parser_errors").await,
        good_before
    );
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM parser_errors").await,
        good_before
    );

    // No SKIP: the first bad message of any kind stops it; nothing after it is committed.
    let error = wait_state(&brook, &client, "p_none", "Error")
        .await
        .unwrap_or_default();
    assert!(error.contains(&format!("offset {}", bad[0])), "{error}");
    let committed = count(
        &client,
        "SELECT coalesce(max(committed_offset), 0) FROM information_schema.pipelines_cursors WHERE pipeline_name = 'p_none'",
    )
    .await as usize;
    assert!(committed <= bad[0]);
    assert_eq!(
        count(&client, "SELECT count(*) FROM no_skip").await,
        committed as i64
    );

    // The error state survives a restart; START tries again (and fails the same way).
    drop(client);
    let brook = brook.restart();
    let client = brook.client().await;
    let error = wait_state(&brook, &client, "p_none", "Error")
        .await
        .unwrap_or_default();
    assert!(error.contains(&format!("offset {}", bad[0])), "{error}");
    assert_eq!(
        count(&client, "SELECT count(*) FROM all_errors").await,
        9_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_shows_retrying_and_loses_nothing() {
    let mut kafka = Tansu::start();
    kafka.create_topic("beats", 1).await;
    let beats = |from: i64, to: i64| (from..to).map(|i| (0, json(serde_json::json!({ "id": i }))));
    kafka.produce("beats", beats(0, 500)).await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE beats (id bigint)")
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE PIPELINE b AS LOAD DATA KAFKA '{}/beats' BATCH_INTERVAL 100 INTO TABLE beats FORMAT JSON; \
             START PIPELINE b",
            kafka.brokers()
        ))
        .await
        .unwrap();
    wait_for(&brook, &client, "SELECT count(*) FROM beats", 500).await;
    let outage = Instant::now();
    kafka.stop();
    let error = wait_state(&brook, &client, "b", "Retrying")
        .await
        .unwrap_or_default();
    assert!(error.contains(&kafka.brokers()), "{error}");
    // Reads keep working during the outage.
    assert_eq!(count(&client, "SELECT count(*) FROM beats").await, 500);
    let rest = Duration::from_secs(30).saturating_sub(outage.elapsed());
    tokio::time::sleep(rest).await;
    kafka.restart();
    kafka.produce("beats", beats(500, 1000)).await;
    wait_for(&brook, &client, "SELECT count(*) FROM beats", 1000).await;
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM beats").await,
        1000
    );
    wait_state(&brook, &client, "b", "Running").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topics_unreachable_brokers_and_credentials_give_clear_errors() {
    let kafka = Tansu::start();
    kafka.create_topic("present", 1).await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE t (id bigint)")
        .await
        .unwrap();

    let err = client
        .batch_execute(&format!(
            "CREATE PIPELINE p AS LOAD DATA KAFKA '{}/absent' INTO TABLE t FORMAT JSON",
            kafka.brokers()
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42704");
    assert!(
        message(&err).contains("Kafka topic \"absent\" does not exist"),
        "{}",
        message(&err)
    );

    let err = client
        .batch_execute(
            "CREATE PIPELINE p AS LOAD DATA KAFKA '127.0.0.1:1/present' INTO TABLE t FORMAT JSON",
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "08001");
    assert!(
        message(&err).contains("cannot reach Kafka at 127.0.0.1:1"),
        "{}",
        message(&err)
    );

    let err = client
        .batch_execute(&format!(
            "CREATE PIPELINE p AS LOAD DATA KAFKA '{}/present' INTO TABLE nope FORMAT JSON",
            kafka.brokers()
        ))
        .await
        .unwrap_err();
    assert!(
        message(&err).contains("relation \"nope\" does not exist"),
        "{}",
        message(&err)
    );

    let err = client
        .batch_execute(&format!(
            "CREATE PIPELINE p AS LOAD DATA KAFKA '{}/present' INTO TABLE t FORMAT JSON (missing <- a)",
            kafka.brokers()
        ))
        .await
        .unwrap_err();
    assert!(
        message(&err).contains("column \"missing\""),
        "{}",
        message(&err)
    );

    let err = client
        .batch_execute(
            "CREATE PIPELINE p AS LOAD DATA KAFKA 'h:1/t' BATCH_INTERVAL soon INTO TABLE t",
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42601");
    assert!(message(&err).contains("soon"), "{}", message(&err));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_work_are_never_shown_or_logged_and_wrong_ones_fail_clearly() {
    let secret = "hunter2-do-not-show";
    let kafka = Tansu::start_authenticated("brook", secret);
    kafka.create_topic("present", 1).await;
    kafka
        .produce(
            "present",
            (0..10).map(|i| (0, json(serde_json::json!({ "id": i })))),
        )
        .await;
    // Logging everything Brook and the protocol layer say, so that the
    // check below covers debug logs too.
    let brook = Brook::start_logging("debug,buoyant_kernel=off,deltalake_core=info");
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE t (id bigint)")
        .await
        .unwrap();
    let create = |name: &str, password: &str| {
        format!(
            "CREATE PIPELINE {name} AS LOAD DATA KAFKA '{}/present' \
             CONFIG '{{\"security.protocol\": \"SASL_PLAINTEXT\", \"sasl.mechanisms\": \"SCRAM-SHA-512\"}}' \
             CREDENTIALS '{{\"sasl.username\": \"brook\", \"sasl.password\": \"{password}\"}}' \
             INTO TABLE t FORMAT JSON",
            kafka.brokers()
        )
    };

    // The right credentials: the pipeline loads, and every system table
    // lists it without them.
    client
        .batch_execute(&create("creds", secret))
        .await
        .unwrap_or_else(|e| panic!("{}; log: {}", message(&e), brook.log()));
    let loaded = client
        .execute("START PIPELINE creds FOREGROUND", &[])
        .await
        .unwrap_or_else(|e| panic!("{}", message(&e)));
    assert_eq!(loaded, 10);
    let listed = client
        .simple_query(
            "SHOW PIPELINES; SELECT * FROM information_schema.pipelines; \
             SELECT * FROM information_schema.pipelines_cursors; \
             SELECT * FROM information_schema.pipelines_batches_summary; \
             SELECT * FROM information_schema.pipelines_errors; \
             SELECT * FROM information_schema.models",
        )
        .await
        .unwrap();
    let listed = format!("{listed:?}");
    assert!(listed.contains("SCRAM-SHA-512"), "{listed}");
    assert!(
        !listed.contains(secret) && !listed.contains("sasl.password"),
        "{listed}"
    );

    // A password put in CONFIG rather than CREDENTIALS works, and is shown
    // hidden; the statement texts others see hide both.
    client
        .batch_execute(&format!(
            "CREATE PIPELINE in_config AS LOAD DATA KAFKA '{}/present' \
             CONFIG '{{\"security.protocol\": \"SASL_PLAINTEXT\", \"sasl.mechanisms\": \"SCRAM-SHA-512\", \
             \"sasl.username\": \"brook\", \"sasl.password\": \"{secret}\"}}' \
             INTO TABLE t FORMAT JSON",
            kafka.brokers()
        ))
        .await
        .unwrap_or_else(|e| panic!("{}", message(&e)));
    let observer = brook.client().await;
    let seen = observer
        .simple_query(
            "SELECT config FROM information_schema.pipelines WHERE pipeline_name = 'in_config'; \
             SELECT query FROM information_schema.sessions",
        )
        .await
        .unwrap();
    let seen = format!("{seen:?}");
    assert!(
        seen.contains("********") && seen.contains("SCRAM-SHA-512"),
        "{seen}"
    );
    assert!(!seen.contains(secret), "{seen}");

    // A wrong password: a clear error that does not echo it.
    let wrong = "not-the-password-either";
    let err = client
        .batch_execute(&create("bad", wrong))
        .await
        .unwrap_err();
    let text = message(&err);
    assert_eq!(sqlstate(&err), "28000", "{text}");
    assert!(text.contains("rejected the credentials"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    let log = brook.log();
    assert!(!log.contains(secret), "the secret is in the log");
    assert!(!log.contains(wrong), "the wrong password is in the log");
    assert!(log.contains("DEBUG"), "the log should hold debug lines");

    // At rest, the data directory holds the password nowhere: CREDENTIALS
    // and CONFIG's secret settings are sealed under a key kept beside it,
    // readable by the server's user only.
    let data_dir = brook.data_dir().to_path_buf();
    let stored = std::fs::read_to_string(data_dir.join("pipelines.json")).unwrap();
    assert!(stored.contains("sealed:v1:"), "{stored}");
    assert!(
        !stored.contains(secret) && !stored.contains("sasl.password"),
        "{stored}"
    );
    for entry in walk(&data_dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the password",
            entry.display()
        );
    }
    // The audit log records who created and started which pipeline, and
    // the refused one with its SQLSTATE, without either password.
    let audit = std::fs::read_to_string(data_dir.join("audit.log")).unwrap();
    assert!(!audit.contains(wrong), "{audit}");
    let pipeline_operations: Vec<(String, bool, Option<String>)> = audit
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|r| r["class"] == "pipeline")
        .map(|r| {
            (
                r["command"].as_str().unwrap().to_string(),
                r["success"].as_bool().unwrap(),
                r["sqlstate"].as_str().map(str::to_string),
            )
        })
        .collect();
    let ok = |command: &str| (command.to_string(), true, None);
    assert_eq!(
        pipeline_operations,
        [
            ok("CREATE PIPELINE"),
            ok("START PIPELINE"),
            ok("CREATE PIPELINE"),
            (
                "CREATE PIPELINE".to_string(),
                false,
                Some("28000".to_string())
            ),
        ]
    );
    assert!(audit.contains("CREDENTIALS '********'"), "{audit}");
    let key = data_dir.with_file_name(format!(
        "{}.secrets.key",
        data_dir.file_name().unwrap().to_string_lossy()
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    }

    // After a restart the sealed credentials still log in.
    let brook = brook.restart();
    let client = brook.client().await;
    client
        .batch_execute("ALTER PIPELINE creds SET OFFSETS EARLIEST")
        .await
        .unwrap();
    let loaded = client
        .execute("START PIPELINE creds FOREGROUND", &[])
        .await
        .unwrap_or_else(|e| panic!("{}; log: {}", message(&e), brook.log()));
    assert_eq!(loaded, 10);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Fault injection with librdkafka's mock cluster (in addition to the real
/// broker above): fetch requests failing, then the broker down and up again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_fetch_errors_and_a_downed_broker_lose_nothing() {
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    let mock = MockCluster::new(1).expect("mock cluster");
    mock.create_topic("faults", 2, 1).expect("topic");
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .create()
        .expect("producer");
    let produce = |from: i64, to: i64| {
        let producer = producer.clone();
        async move {
            for i in from..to {
                let payload = json(serde_json::json!({ "id": i }));
                let record: FutureRecord<'_, (), [u8]> = FutureRecord::to("faults")
                    .partition((i % 2) as i32)
                    .payload(&payload);
                producer
                    .send(record, Duration::from_secs(10))
                    .await
                    .map_err(|(e, _)| e)
                    .expect("produced");
            }
        }
    };
    produce(0, 200).await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE faults (id bigint)")
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE PIPELINE f AS LOAD DATA KAFKA '{}/faults' BATCH_INTERVAL 50 INTO TABLE faults FORMAT JSON; \
             START PIPELINE f",
            mock.bootstrap_servers()
        ))
        .await
        .unwrap();
    wait_for(&brook, &client, "SELECT count(*) FROM faults", 200).await;

    mock.request_errors(
        RDKafkaApiKey::Fetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 5],
    );
    produce(200, 400).await;
    wait_for(&brook, &client, "SELECT count(*) FROM faults", 400).await;

    mock.broker_down(1).expect("broker down");
    tokio::time::sleep(Duration::from_secs(3)).await;
    mock.broker_up(1).expect("broker up");
    produce(400, 600).await;
    wait_for(&brook, &client, "SELECT count(*) FROM faults", 600).await;
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM faults").await,
        600
    );
}

/// rows + filtered + errors over every batch of `pipeline`.
async fn accounted(client: &Client, pipeline: &str) -> i64 {
    count(
        client,
        &format!(
            "SELECT CAST(sum(rows + filtered + errors) AS bigint) \
             FROM information_schema.pipelines_batches_summary WHERE pipeline_name = '{pipeline}'"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_and_ignore_keep_one_row_per_primary_key() {
    let kafka = Tansu::start();
    kafka.create_topic("keyed", 1).await;
    // id = i % 40: every key arrives two or three times, in two rounds.
    let round = |range: std::ops::Range<i64>| {
        range
            .map(|i| (0, json(serde_json::json!({"id": i % 40, "v": i}))))
            .collect::<Vec<_>>()
    };
    kafka.produce("keyed", round(0..60)).await;

    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE newest (id bigint PRIMARY KEY, v int); \
             CREATE TABLE firsts (id bigint, v int, PRIMARY KEY (id)); \
             CREATE TABLE nokey (id bigint, v int)",
        )
        .await
        .unwrap();
    let err = client
        .batch_execute(&format!(
            "CREATE PIPELINE bad AS LOAD DATA KAFKA '{}/keyed' REPLACE INTO TABLE nokey FORMAT JSON",
            kafka.brokers()
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P10");
    assert!(
        message(&err).contains("REPLACE INTO TABLE needs a primary key"),
        "{}",
        message(&err)
    );
    for (name, mode, table) in [("pr", "REPLACE", "newest"), ("pi", "IGNORE", "firsts")] {
        client
            .batch_execute(&format!(
                "CREATE PIPELINE {name} AS LOAD DATA KAFKA '{}/keyed' BATCH_INTERVAL 50 \
                 {mode} INTO TABLE {table} FORMAT JSON",
                kafka.brokers()
            ))
            .await
            .unwrap();
        client
            .batch_execute(&format!("START PIPELINE {name} FOREGROUND"))
            .await
            .unwrap();
    }
    // A second round: keys already stored are replaced, or ignored.
    kafka.produce("keyed", round(60..100)).await;
    for name in ["pr", "pi"] {
        client
            .batch_execute(&format!("START PIPELINE {name} FOREGROUND"))
            .await
            .unwrap();
    }

    for table in ["newest", "firsts"] {
        assert_eq!(
            count(&client, &format!("SELECT count(*) FROM {table}")).await,
            40
        );
        assert_eq!(
            count(&client, &format!("SELECT count(DISTINCT id) FROM {table}")).await,
            40
        );
    }
    // REPLACE keeps the last message of each key, IGNORE the first.
    let last: i64 = (0..40)
        .map(|k| (k..100).step_by(40).max().unwrap_or(k))
        .sum();
    let first: i64 = (0..40).sum();
    assert_eq!(
        count(&client, "SELECT CAST(sum(v) AS bigint) FROM newest").await,
        last
    );
    assert_eq!(
        count(&client, "SELECT CAST(sum(v) AS bigint) FROM firsts").await,
        first
    );
    // Every message is accounted for: superseded or ignored rows count as filtered.
    assert_eq!(accounted(&client, "pr").await, 100);
    assert_eq!(accounted(&client, "pi").await, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_errors_loads_what_the_fixed_definition_accepts_and_keeps_the_rest() {
    let kafka = Tansu::start();
    kafka.create_topic("readings", 1).await;
    // 20 good messages, 10 whose n is not a number ("x3"), 2 that are not JSON.
    let messages = (0..32).map(|i: i64| {
        let payload = if i >= 30 {
            b"{not json".to_vec()
        } else if i % 3 == 0 {
            json(serde_json::json!({"id": i, "n": format!("x{i}")}))
        } else {
            json(serde_json::json!({"id": i, "n": i.to_string()}))
        };
        (0, payload)
    });
    kafka.produce("readings", messages).await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE readings (id bigint NOT NULL, n int)")
        .await
        .unwrap();
    let create = |set: &str| {
        format!(
            "CREATE OR REPLACE PIPELINE rd AS LOAD DATA KAFKA '{}/readings' BATCH_INTERVAL 50 \
             SKIP ALL ERRORS INTO TABLE readings FORMAT JSON {set}",
            kafka.brokers()
        )
    };
    client.batch_execute(&create("")).await.unwrap();
    client
        .batch_execute("START PIPELINE rd FOREGROUND")
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM readings").await, 20);
    let kept =
        "SELECT count(*) FROM information_schema.pipelines_errors WHERE pipeline_name = 'rd'";
    assert_eq!(count(&client, kept).await, 12);

    let retry = |sql: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {}", message(&e)));
            (
                row.get::<_, i64>("retried"),
                row.get::<_, i64>("loaded"),
                row.get::<_, i64>("filtered"),
                row.get::<_, i64>("failed"),
            )
        }
    };
    // Nothing fixed yet: everything fails again and stays.
    assert_eq!(
        retry("ALTER PIPELINE rd RETRY ERRORS").await,
        (12, 0, 0, 12)
    );
    assert_eq!(count(&client, kept).await, 12);

    // The user fixes the mapping; a WHERE over pipelines_errors picks some.
    client
        .batch_execute(&create(
            "(id <- id, @n <- n) SET n = CAST(replace(@n, 'x', '') AS int)",
        ))
        .await
        .unwrap();
    assert_eq!(
        retry("ALTER PIPELINE rd RETRY ERRORS WHERE \"offset\" < 15").await,
        (5, 5, 0, 0)
    );
    assert_eq!(count(&client, kept).await, 7);
    assert_eq!(retry("ALTER PIPELINE rd RETRY ERRORS").await, (7, 5, 0, 2));
    assert_eq!(
        retry("ALTER PIPELINE rd RETRY ERRORS WHERE \"offset\" < 30").await,
        (0, 0, 0, 0)
    );

    assert_eq!(count(&client, "SELECT count(*) FROM readings").await, 30);
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM readings").await,
        30
    );
    assert_eq!(
        count(&client, "SELECT CAST(sum(n) AS bigint) FROM readings").await,
        (0..30).sum::<i64>()
    );
    // The two that are not JSON stay, payload intact, with the new reason.
    let rows = client
        .query(
            "SELECT \"offset\", error, payload FROM information_schema.pipelines_errors \
             WHERE pipeline_name = 'rd' ORDER BY \"offset\"",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i64, Vec<u8>)> = rows.iter().map(|r| (r.get(0), r.get(2))).collect();
    assert_eq!(
        got,
        vec![(30, b"{not json".to_vec()), (31, b"{not json".to_vec())]
    );
    for r in &rows {
        let reason: String = r.get(1);
        assert!(reason.to_lowercase().contains("json"), "{reason}");
    }
    let err = client
        .batch_execute("ALTER PIPELINE nope RETRY ERRORS")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42704");
}

/// A table's CHECK constraint holds for what a pipeline loads from a real
/// broker: a message whose row fails it is set aside in pipelines_errors
/// (with the constraint's name and the raw payload), the rest of its batch
/// loads, and without SKIP the pipeline stops on it, loading nothing of
/// that batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_constraint_sets_violating_messages_aside_or_stops_the_pipeline() {
    let kafka = Tansu::start();
    kafka.create_topic("stock", 1).await;
    // Every fifth message has a negative quantity.
    let messages = (0..25).map(|i: i64| {
        let qty = if i % 5 == 4 { -i } else { i };
        (
            0,
            json(serde_json::json!({"sku": format!("s{i:03}"), "qty": qty})),
        )
    });
    kafka.produce("stock", messages).await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE stock (sku text NOT NULL, qty int CONSTRAINT qty_not_negative CHECK (qty >= 0)); \
             CREATE TABLE strict_stock (sku text NOT NULL, qty int CHECK (qty >= 0))",
        )
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE PIPELINE st AS LOAD DATA KAFKA '{}/stock' BATCH_INTERVAL 50 \
             SKIP ALL ERRORS INTO TABLE stock FORMAT JSON; \
             START PIPELINE st FOREGROUND",
            kafka.brokers()
        ))
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM stock").await, 20);
    assert_eq!(
        count(&client, "SELECT count(*) FROM stock WHERE qty < 0").await,
        0
    );
    let rows = client
        .query(
            "SELECT \"offset\", error, payload FROM information_schema.pipelines_errors \
             WHERE pipeline_name = 'st' ORDER BY \"offset\"",
            &[],
        )
        .await
        .unwrap();
    let offsets: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(offsets, vec![4, 9, 14, 19, 24]);
    for r in &rows {
        let reason: String = r.get(1);
        assert!(reason.contains("qty_not_negative"), "{reason}");
        let payload: Vec<u8> = r.get(2);
        assert!(String::from_utf8_lossy(&payload).contains("\"qty\":-"));
    }

    // Without SKIP, the first violating message stops the pipeline with the
    // constraint named, and nothing of its batch is in the table.
    client
        .batch_execute(&format!(
            "CREATE PIPELINE strict_st AS LOAD DATA KAFKA '{}/stock' BATCH_INTERVAL 50 \
             INTO TABLE strict_stock FORMAT JSON",
            kafka.brokers()
        ))
        .await
        .unwrap();
    client
        .batch_execute("START PIPELINE strict_st")
        .await
        .unwrap();
    let error = wait_state(&brook, &client, "strict_st", "Error")
        .await
        .unwrap_or_default();
    assert!(
        error.contains("strict_stock_qty_check") && error.contains("offset 4"),
        "{error}"
    );
    let committed = count(
        &client,
        "SELECT coalesce(max(committed_offset), 0) FROM information_schema.pipelines_cursors \
         WHERE pipeline_name = 'strict_st'",
    )
    .await;
    assert!(
        committed <= 4,
        "committed past the violating message: {committed}"
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM strict_stock").await,
        committed
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM strict_stock WHERE qty < 0").await,
        0
    );
}

/// A uuid column holds uuids whatever a pipeline reads: a message whose
/// value is not one is set aside with PostgreSQL's input error (it was
/// stored as sent), and the others land in the uuid's canonical form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_value_is_no_uuid_is_set_aside() {
    let kafka = Tansu::start();
    kafka.create_topic("devices", 1).await;
    let messages = (0..12).map(|i: i64| {
        let id = if i % 4 == 3 {
            format!("not-a-uuid-{i}")
        } else {
            format!("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD3800{i:02}")
        };
        (0, json(serde_json::json!({"n": i, "id": id})))
    });
    kafka.produce("devices", messages).await;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE devices (n int, id uuid); \
             CREATE PIPELINE dev AS LOAD DATA KAFKA '{}/devices' BATCH_INTERVAL 50 \
             SKIP ALL ERRORS INTO TABLE devices FORMAT JSON; \
             START PIPELINE dev FOREGROUND",
            kafka.brokers()
        ))
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM devices").await, 9);
    let first: String = client
        .query_one("SELECT id::text FROM devices WHERE n = 0", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(first, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380000");
    let rows = client
        .query(
            "SELECT \"offset\", error FROM information_schema.pipelines_errors \
             WHERE pipeline_name = 'dev' ORDER BY \"offset\"",
            &[],
        )
        .await
        .unwrap();
    let offsets: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(offsets, vec![3, 7, 11]);
    let reason: String = rows[0].get(1);
    assert!(
        reason.contains("invalid input syntax for type uuid: \"not-a-uuid-3\""),
        "{reason}"
    );
}
