//! The load harness (issue #7): concurrent clients run point queries,
//! aggregates and inserts while a pipeline ingests; no query may fail, and a
//! client beyond the connection limit gets a clean 53300.
//!
//! CI runs 16 clients for 5 s; `bench/load/run.sh` runs 64 clients for 60 s
//! in release and prints the latencies and ingest rate RELIABILITY.md records.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::kafka::Tansu;
use crate::pipelines::{json, wait_state};
use crate::support::{Brook, count, message, setting, sqlstate, wait_for};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Point,
    Aggregate,
    Insert,
}

const KINDS: [Kind; 3] = [Kind::Point, Kind::Aggregate, Kind::Insert];

/// The p-th percentile (0–100) of sorted latencies, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[at].as_secs_f64() * 1e3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_with_ingest_have_no_failures_and_the_limit_is_clean() {
    let clients = setting("LOAD_CLIENTS", 16) as usize;
    let seconds = setting("LOAD_SECONDS", 5);
    const ROWS: i64 = 100_000;

    let kafka = Arc::new(Tansu::start());
    kafka.create_topic("feed", 2).await;
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--max-connections".into(), (clients + 2).to_string()],
    );
    let admin = brook.client().await;
    admin
        .batch_execute(&format!(
            "CREATE TABLE items (id bigint NOT NULL, category int, v double precision); \
             INSERT INTO items SELECT v, v % 50, v * 0.5 FROM generate_series(0, {}) t(v); \
             CREATE TABLE feed (id bigint, note text); \
             CREATE PIPELINE feed AS LOAD DATA KAFKA '{}/feed' BATCH_INTERVAL 100 \
             INTO TABLE feed FORMAT JSON; START PIPELINE feed",
            ROWS - 1,
            kafka.brokers()
        ))
        .await
        .unwrap();

    // Ingest all along: batches of 500 messages, as fast as the broker takes them.
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicI64::new(0));
    let producer = {
        let (kafka, stop, produced) = (kafka.clone(), stop.clone(), produced.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let from = produced.load(Ordering::Relaxed);
                kafka
                    .produce(
                        "feed",
                        (from..from + 500).map(|i| {
                            (
                                (i % 2) as i32,
                                json(serde_json::json!({ "id": i, "note": "load" })),
                            )
                        }),
                    )
                    .await;
                produced.fetch_add(500, Ordering::Relaxed);
            }
        })
    };

    let next_id = Arc::new(AtomicI64::new(ROWS));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for worker in 0..clients {
        let client = brook.client().await;
        let next_id = next_id.clone();
        workers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(worker as u64);
            let mut latencies: Vec<(Kind, Duration)> = Vec::new();
            let mut failures: Vec<String> = Vec::new();
            let point = client
                .prepare("SELECT v FROM items WHERE id = $1")
                .await
                .expect("prepare");
            let insert = client
                .prepare("INSERT INTO items VALUES ($1, $2, $3)")
                .await
                .expect("prepare");
            while Instant::now() < deadline {
                let kind = match rng.gen_range(0..10) {
                    0..=5 => Kind::Point,
                    6..=7 => Kind::Aggregate,
                    _ => Kind::Insert,
                };
                let began = Instant::now();
                let result = match kind {
                    Kind::Point => {
                        let id: i64 = rng.gen_range(0..ROWS);
                        client.query(&point, &[&id]).await.map(|rows| {
                            assert_eq!(rows.len(), 1, "point query for {id}");
                        })
                    }
                    Kind::Aggregate => client
                        .query(
                            "SELECT category, count(*), avg(v) FROM items GROUP BY category",
                            &[],
                        )
                        .await
                        .map(|rows| assert_eq!(rows.len(), 50)),
                    Kind::Insert => {
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        let category = (id % 50) as i32;
                        client
                            .execute(&insert, &[&id, &category, &(id as f64 * 0.5)])
                            .await
                            .map(|n| assert_eq!(n, 1))
                    }
                };
                match result {
                    Ok(()) => latencies.push((kind, began.elapsed())),
                    Err(e) => failures.push(format!("{kind:?}: {}", message(&e))),
                }
            }
            (latencies, failures)
        }));
    }

    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    for worker in workers {
        let (l, f) = worker.await.expect("worker");
        latencies.extend(l);
        failures.extend(f);
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    producer.await.expect("producer");
    let produced = produced.load(Ordering::Relaxed);
    let ingested_during = count(&admin, "SELECT count(*) FROM feed").await;
    assert!(
        failures.is_empty(),
        "{} failed queries: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // Every insert landed once; every produced message arrives once.
    let inserted = next_id.load(Ordering::Relaxed) - ROWS;
    assert_eq!(
        count(&admin, "SELECT count(*) FROM items").await,
        ROWS + inserted
    );
    wait_for(&brook, &admin, "SELECT count(*) FROM feed", produced).await;
    assert_eq!(
        count(&admin, "SELECT count(DISTINCT id) FROM feed").await,
        produced
    );
    assert_eq!(wait_state(&brook, &admin, "feed", "Running").await, None);

    // One more session than the limit allows: the clean refusal.
    // (The workers' sessions close asynchronously: retry while their places free.)
    let mut held = Vec::new();
    let freed_by = Instant::now() + Duration::from_secs(10);
    while held.len() < clients + 1 {
        match tokio_postgres::connect(&brook.conn_string(), tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                held.push(client);
            }
            Err(e) if Instant::now() < freed_by => {
                assert_eq!(sqlstate(&e), "53300", "{}", message(&e));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("sessions did not free their places: {}", message(&e)),
        }
    }
    let err = tokio_postgres::connect(&brook.conn_string(), tokio_postgres::NoTls)
        .await
        .err()
        .expect("beyond max_connections");
    assert_eq!(sqlstate(&err), "53300", "{}", message(&err));

    println!(
        "load: {clients} clients for {:.1} s, {} queries, 0 failed; ingest {:.0} msg/s during the run ({} messages)",
        elapsed.as_secs_f64(),
        latencies.len(),
        ingested_during as f64 / elapsed.as_secs_f64(),
        ingested_during,
    );
    for kind in KINDS {
        let mut of_kind: Vec<Duration> = latencies
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| *d)
            .collect();
        of_kind.sort();
        println!(
            "load: {kind:?}: {} queries, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            of_kind.len(),
            of_kind.len() as f64 / elapsed.as_secs_f64(),
            percentile(&of_kind, 50.0),
            percentile(&of_kind, 99.0),
        );
    }
}
