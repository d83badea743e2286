//! bench/insert's load generator: `clients` connections, each running
//! single-row INSERTs back to back (a prepared statement, autocommit, as an
//! application writing one event at a time does) for `seconds`. Prints one
//! line of JSON: commits, commits per second, latency p50/p99/max in ms,
//! errors. The same binary drives PostgreSQL and Brook, so the client's own
//! cost is the same for both.
//!
//!     insert_load "host=127.0.0.1 port=5432 user=postgres" 64 60 events

use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, conn, clients, seconds, table] = args.as_slice() else {
        eprintln!("usage: insert_load <connection string> <clients> <seconds> <table>");
        std::process::exit(2);
    };
    let clients: i32 = clients.parse().expect("clients is a number");
    let seconds: u64 = seconds.parse().expect("seconds is a number");
    let sql = format!("INSERT INTO {table} (client, seq, payload) VALUES ($1, $2, $3)");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = vec![];
    for client in 0..clients {
        let (conn, sql) = (conn.clone(), sql.clone());
        tasks.push(tokio::spawn(async move {
            let (db, connection) = tokio_postgres::connect(&conn, NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            let insert = db.prepare(&sql).await.expect("prepare");
            let payload = "x".repeat(64);
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            let mut seq = 0i64;
            while Instant::now() < deadline {
                let at = Instant::now();
                match db.execute(&insert, &[&client, &seq, &payload]).await {
                    Ok(_) => latencies.push(at.elapsed().as_micros() as u64),
                    Err(_) => errors += 1,
                }
                seq += 1;
            }
            (latencies, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (latencies, e) = task.await.expect("client task");
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i] as f64 / 1000.0
    };
    println!(
        "{{\"commits\": {}, \"per_second\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}, \"errors\": {}}}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.last().map_or(0.0, |m| *m as f64 / 1000.0),
        errors
    );
}
