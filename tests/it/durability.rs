//! Committed rows survive a graceful restart and `kill -9`; a half-written
//! statement never shows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::support::{Brook, count};

#[tokio::test]
async fn tables_views_and_rows_survive_a_restart() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE SCHEMA sales;
             CREATE TABLE sales.orders (id int NOT NULL, amount numeric(10,2), note text DEFAULT 'n/a');
             INSERT INTO sales.orders (id, amount) VALUES (1, 10.50), (2, 20.25);
             CREATE VIEW big_orders AS SELECT id, amount FROM sales.orders WHERE amount > 15;
             CREATE TABLE gone (x int);
             DROP TABLE gone;",
        )
        .await
        .unwrap();
    drop(client);
    let mut brook = brook.restart();
    let client = brook.client().await;
    let rows = client
        .query(
            "SELECT id, CAST(amount AS text), note FROM sales.orders ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i32, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "10.50".into(), "n/a".into()),
            (2, "20.25".into(), "n/a".into())
        ]
    );
    let big: i64 = client
        .query_one("SELECT count(*) FROM big_orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(big, 1);
    let err = client.query("SELECT * FROM gone", &[]).await.unwrap_err();
    assert_eq!(crate::support::sqlstate(&err), "42P01");
    // Defaults and NOT NULL are part of the restored definition.
    let err = client
        .execute("INSERT INTO sales.orders (amount) VALUES (1)", &[])
        .await
        .unwrap_err();
    assert_eq!(crate::support::sqlstate(&err), "23502", "{err}");
    // SIGTERM is a clean exit.
    assert_eq!(brook.terminate(), Some(0));
}

/// A writer sends 10-row INSERTs as fast as it can; the server is killed with
/// SIGKILL mid-stream. After restart every acknowledged statement's rows are
/// there exactly once, and no statement is there in part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_row_and_shows_no_partial_statement() {
    let mut brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE events (batch bigint NOT NULL, seq int NOT NULL)")
        .await
        .unwrap();
    let acknowledged = Arc::new(AtomicI64::new(-1));
    let writer = {
        let acknowledged = acknowledged.clone();
        tokio::spawn(async move {
            for batch in 0i64.. {
                let values: Vec<String> = (0..10).map(|s| format!("({batch}, {s})")).collect();
                let sql = format!("INSERT INTO events VALUES {}", values.join(", "));
                if client.execute(sql.as_str(), &[]).await.is_err() {
                    return;
                }
                acknowledged.store(batch, Ordering::SeqCst);
            }
        })
    };
    // Let a few hundred statements commit, then pull the plug.
    while acknowledged.load(Ordering::SeqCst) < 150 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    brook.kill9();
    let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    let last_acked = acknowledged.load(Ordering::SeqCst);

    let brook = brook.crash_and_restart();
    let client = brook.client().await;
    let rows = client
        .query("SELECT batch, count(*) FROM events GROUP BY batch", &[])
        .await
        .unwrap();
    let per_batch: BTreeMap<i64, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    for batch in 0..=last_acked {
        assert_eq!(
            per_batch.get(&batch),
            Some(&10),
            "acknowledged batch {batch} must be present exactly once (10 rows)"
        );
    }
    for (batch, count) in &per_batch {
        assert_eq!(*count, 10, "batch {batch} is partial or duplicated");
        // Only the one statement in flight at the kill may have committed unacknowledged.
        assert!(*batch <= last_acked + 1, "batch {batch} was never sent");
    }
    // The restarted server takes new writes on the same table.
    client
        .execute("INSERT INTO events VALUES (-1, 0)", &[])
        .await
        .unwrap();
}

/// Files of a table's Delta log that record a compaction (an OPTIMIZE commit).
fn compaction_commits(data_dir: &std::path::Path) -> usize {
    let Ok(tables) = std::fs::read_dir(data_dir.join("tables")) else {
        return 0;
    };
    tables
        .flatten()
        .filter_map(|t| std::fs::read_dir(t.path().join("_delta_log")).ok())
        .flat_map(|log| log.flatten())
        .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
        .filter(|f| {
            std::fs::read_to_string(f.path()).is_ok_and(|text| text.contains("\"OPTIMIZE\""))
        })
        .count()
}

/// One-row INSERTs spread out over time, each flushed on its own (a 0 ms
/// flush interval), leave many small files; the background compactor
/// merges them while readers keep seeing every row exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_are_compacted_in_the_background_without_changing_results() {
    let brook = Brook::start_with("127.0.0.1", &["--flush-interval".into(), "0ms".into()]);
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE trickle (n int NOT NULL)")
        .await
        .unwrap();
    for n in 0..40 {
        client
            .execute("INSERT INTO trickle VALUES ($1)", &[&n])
            .await
            .unwrap();
        // Past the flusher's next look, so that each row is its own file.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while compaction_commits(brook.data_dir()) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no compaction within 60 s; log:\n{}",
            brook.log()
        );
        let row = client
            .query_one("SELECT count(*), count(DISTINCT n) FROM trickle", &[])
            .await
            .unwrap();
        assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (40, 40));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let row = client
        .query_one("SELECT count(*), sum(n) FROM trickle", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (40, (0..40).sum::<i64>())
    );
    drop(client);
    let brook = brook.restart();
    let n: i64 = brook
        .client()
        .await
        .query_one("SELECT count(*) FROM trickle", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 40);
}

/// What a writer killed between writing its Parquet file and committing it
/// leaves behind is removed when the table opens; committed files stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_no_commit_names_are_removed_at_start_up() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE kept (id bigint); INSERT INTO kept VALUES (1), (2), (3)")
        .await
        .unwrap();
    drop(client);
    let tables = brook.data_dir().join("tables");
    let dir = std::fs::read_dir(&tables)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_public_kept"))
        .expect("the table's directory");
    let parquet = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".parquet"))
            .collect();
        names.sort();
        names
    };
    // The rows reach a Parquet file when the flusher writes the memtable,
    // and are committed when a Delta log entry names that file (the file
    // is written first: waiting for it alone raced the commit).
    let logged = |dir: &std::path::Path, file: &str| -> bool {
        std::fs::read_dir(dir.join("_delta_log"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(file)))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while parquet(&dir).is_empty() || !parquet(&dir).iter().all(|f| logged(&dir, f)) {
        assert!(std::time::Instant::now() < deadline, "no flush within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let committed = parquet(&dir);
    let orphan = dir.join("part-00000-0badf11e-0000-0000-0000-000000000000-c000.snappy.parquet");
    std::fs::write(&orphan, b"half a file").unwrap();
    let mut brook = brook.crash_and_restart();
    let client = brook.client().await;
    assert_eq!(
        crate::support::count(&client, "SELECT count(*) FROM kept").await,
        3
    );
    assert!(!orphan.exists(), "the orphaned file is still there");
    assert_eq!(parquet(&dir), committed, "a committed file went missing");
    brook.terminate();
}

/// Rows of `writers` each inserting its own sequence: after a crash, every
/// acknowledged row is there exactly once, and nothing beyond the statement
/// each writer had in flight.
async fn check_sequences(client: &tokio_postgres::Client, acked: &[i64]) {
    let rows = client
        .query(
            "SELECT writer, count(*), count(DISTINCT seq), max(seq) FROM seqs GROUP BY writer",
            &[],
        )
        .await
        .unwrap();
    let found: BTreeMap<i32, (i64, i64, i32)> = rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    for (writer, last) in acked.iter().enumerate() {
        let (rows, distinct, max) = found.get(&(writer as i32)).copied().unwrap_or((0, 0, -1));
        assert_eq!(rows, distinct, "writer {writer}: a row is there twice");
        let max = i64::from(max);
        assert!(
            max == *last || max == *last + 1,
            "writer {writer}: acknowledged up to {last}, found up to {max}"
        );
        assert_eq!(
            rows,
            max + 1,
            "writer {writer}: a row below {max} is missing"
        );
    }
}

/// Eight writers insert single rows concurrently (their commits share the
/// write-ahead log's fsyncs); the server is killed mid-stream, restarted
/// (replaying the log into the memtables, part of it already flushed), and
/// killed again right after: every acknowledged row is there exactly once
/// each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_row_commits_survive_repeated_kill_9_exactly_once() {
    let mut brook = Brook::start_with("127.0.0.1", &["--flush-interval".into(), "300ms".into()]);
    brook
        .client()
        .await
        .batch_execute("CREATE TABLE seqs (writer int NOT NULL, seq int NOT NULL)")
        .await
        .unwrap();
    let acked: Arc<Vec<AtomicI64>> = Arc::new((0..8).map(|_| AtomicI64::new(-1)).collect());
    let mut writers = vec![];
    for writer in 0..8i32 {
        let client = brook.client().await;
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for seq in 0i32.. {
                if client
                    .execute("INSERT INTO seqs VALUES ($1, $2)", &[&writer, &seq])
                    .await
                    .is_err()
                {
                    return;
                }
                acked[writer as usize].store(i64::from(seq), Ordering::SeqCst);
            }
        }));
    }
    let total = |acked: &[AtomicI64]| {
        acked
            .iter()
            .map(|a| a.load(Ordering::SeqCst) + 1)
            .sum::<i64>()
    };
    while total(&acked) < 2_000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    brook.kill9();
    for writer in writers {
        let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    }
    let last: Vec<i64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();

    let mut brook = brook.crash_and_restart();
    assert!(
        brook.log().contains("write-ahead log recovered"),
        "{}",
        brook.log()
    );
    check_sequences(&brook.client().await, &last).await;
    // Again, while the replayed commits are (partly) still only in memory.
    brook.kill9();
    let brook = brook.crash_and_restart();
    let client = brook.client().await;
    check_sequences(&client, &last).await;
    // And after a clean stop, which flushes everything.
    drop(client);
    let brook = brook.restart();
    check_sequences(&brook.client().await, &last).await;
}

/// The bytes a crash tore off the end of the write-ahead log (here: noise
/// appended to the last segment) are detected, set aside in `wal/dropped/`
/// and reported; every commit before them is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_log_tail_is_set_aside_and_every_commit_before_it_kept() {
    let mut brook = Brook::start_with("127.0.0.1", &["--flush-interval".into(), "1h".into()]);
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE torn (n int NOT NULL)")
        .await
        .unwrap();
    for n in 0..50 {
        client
            .execute("INSERT INTO torn VALUES ($1)", &[&n])
            .await
            .unwrap();
    }
    drop(client);
    brook.kill9();
    let wal = brook.data_dir().join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    let last = segments.last().expect("a log segment");
    let mut bytes = std::fs::read(last).unwrap();
    bytes.extend_from_slice(&[0x5a; 37]);
    std::fs::write(last, &bytes).unwrap();

    let brook = brook.crash_and_restart();
    let client = brook.client().await;
    let row = client
        .query_one("SELECT count(*), count(DISTINCT n), sum(n) FROM torn", &[])
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2)
        ),
        (50, 50, (0..50).sum::<i64>())
    );
    let log = brook.log();
    assert!(log.contains("set the remaining 37 bytes aside"), "{log}");
    let dropped: Vec<_> = std::fs::read_dir(wal.join("dropped"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    // New commits go on after the kept prefix.
    client
        .execute("INSERT INTO torn VALUES (50)", &[])
        .await
        .unwrap();
    assert_eq!(
        crate::support::count(&client, "SELECT count(*) FROM torn").await,
        51
    );
}

/// One transaction at a time inserts `i` into `a`, adds 1 to `b`'s counter
/// and deletes `i` from `c`; the server is killed with SIGKILL mid-stream,
/// three times, at different depths. After each restart every transaction
/// is there entirely or not at all: `a` holds 0..k, `b` counts k, `c` lacks
/// exactly 0..k; and every acknowledged COMMIT is among them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_table_transactions_are_all_or_nothing_across_kill_9() {
    const ROWS: i64 = 400;
    let mut brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE a (id bigint NOT NULL); \
             CREATE TABLE b (n bigint NOT NULL); INSERT INTO b VALUES (0); \
             CREATE TABLE c (id bigint NOT NULL); \
             INSERT INTO c SELECT v FROM generate_series(0, {}) AS s(v)",
            ROWS - 1
        ))
        .await
        .unwrap();
    let mut next = 0i64;
    for (round, depth) in [40i64, 70, 90].into_iter().enumerate() {
        let client = brook.client().await;
        let acknowledged = Arc::new(AtomicI64::new(next - 1));
        let writer = {
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                for i in next.. {
                    let sql = format!(
                        "BEGIN; INSERT INTO a VALUES ({i}); UPDATE b SET n = n + 1; \
                         DELETE FROM c WHERE id = {i}; COMMIT"
                    );
                    loop {
                        match client.batch_execute(&sql).await {
                            Ok(()) => break,
                            // A flush racing the snapshot: retry, as a client should.
                            Err(e) if e.code().is_some_and(|c| c.code() == "40001") => {
                                if client.batch_execute("ROLLBACK").await.is_err() {
                                    return format!("{e:?}");
                                }
                            }
                            Err(e) => return format!("{e:?}"),
                        }
                    }
                    acknowledged.store(i, Ordering::SeqCst);
                }
                unreachable!("the writer runs until the server dies")
            })
        };
        while acknowledged.load(Ordering::SeqCst) < next + depth {
            if writer.is_finished() {
                panic!(
                    "the writer stopped before the kill: {}",
                    writer.await.unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        brook.kill9();
        let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
        let last_acked = acknowledged.load(Ordering::SeqCst);
        brook = brook.crash_and_restart();
        let client = brook.client().await;
        let ids: Vec<i64> = client
            .query("SELECT id FROM a ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let k = ids.len() as i64;
        assert_eq!(ids, (0..k).collect::<Vec<_>>(), "round {round}: a");
        assert!(
            k == last_acked + 1 || k == last_acked + 2,
            "round {round}: {k} transactions kept, {} acknowledged",
            last_acked + 1
        );
        let counted = crate::support::count(&client, "SELECT n FROM b").await;
        assert_eq!(counted, k, "round {round}: b's counter");
        let left = crate::support::count(&client, "SELECT count(*) FROM c").await;
        let low = crate::support::count(&client, "SELECT min(id) FROM c").await;
        assert_eq!((left, low), (ROWS - k, k), "round {round}: c");
        next = k;
    }
    assert!(next >= 200, "{next} transactions");
}

/// A serial key handed out is never handed out again, also after `kill -9`
/// (the sequence's file allows values ahead before they are given).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_keys_are_never_reused_across_kill_9() {
    let mut brook = Brook::start();
    {
        let client = brook.client().await;
        client
            .batch_execute("CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, item TEXT)")
            .await
            .unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    for round in 0..3 {
        let client = brook.client().await;
        for i in 0..50 {
            let row = client
                .query_one(
                    "INSERT INTO orders (item) VALUES ($1) RETURNING id",
                    &[&format!("r{round}-{i}")],
                )
                .await
                .unwrap();
            let id: i64 = row.get(0);
            assert!(seen.insert(id), "id {id} handed out twice");
        }
        drop(client);
        brook = brook.crash_and_restart();
    }
    let client = brook.client().await;
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM orders").await,
        150
    );
    assert_eq!(count(&client, "SELECT count(*) FROM orders").await, 150);
}

/// Each transaction creates table `t_i` with one row, inserts `i` into `a`
/// and drops `t_{i-1}`; the server is killed with SIGKILL mid-stream. After
/// each restart the schema changes went with the rows: `a` holds 0..k and
/// exactly one `t_` table is left, `t_{k-1}`, holding `k-1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_in_transactions_are_all_or_nothing_across_kill_9() {
    let mut brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE a (id bigint NOT NULL)")
        .await
        .unwrap();
    let mut next = 0i64;
    for (round, depth) in [15i64, 25].into_iter().enumerate() {
        let client = brook.client().await;
        let acknowledged = Arc::new(AtomicI64::new(next - 1));
        let writer = {
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                for i in next.. {
                    let drop = match i {
                        0 => String::new(),
                        i => format!("DROP TABLE t_{};", i - 1),
                    };
                    let sql = format!(
                        "BEGIN; CREATE TABLE t_{i} AS SELECT {i}::bigint AS id; \
                         INSERT INTO a VALUES ({i}); {drop} COMMIT"
                    );
                    if let Err(e) = client.batch_execute(&sql).await {
                        return format!("{e:?}");
                    }
                    acknowledged.store(i, Ordering::SeqCst);
                }
                unreachable!("the writer runs until the server dies")
            })
        };
        while acknowledged.load(Ordering::SeqCst) < next + depth {
            if writer.is_finished() {
                panic!(
                    "the writer stopped before the kill: {}",
                    writer.await.unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        brook.kill9();
        let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
        let last_acked = acknowledged.load(Ordering::SeqCst);
        brook = brook.crash_and_restart();
        let client = brook.client().await;
        let ids: Vec<i64> = client
            .query("SELECT id FROM a ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let k = ids.len() as i64;
        assert_eq!(ids, (0..k).collect::<Vec<_>>(), "round {round}: a");
        assert!(
            k == last_acked + 1 || k == last_acked + 2,
            "round {round}: {k} transactions kept, {} acknowledged",
            last_acked + 1
        );
        let tables: Vec<String> = client
            .query(
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_name LIKE 't\\_%' ORDER BY table_name",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(tables, vec![format!("t_{}", k - 1)], "round {round}");
        let kept = crate::support::count(&client, &format!("SELECT id FROM t_{}", k - 1)).await;
        assert_eq!(kept, k - 1, "round {round}");
        next = k;
    }
}

/// The moment between a transaction's log record and the catalog file
/// taking its schema changes in, made to last: the catalog file is put
/// back as it was before the COMMIT, and the server killed. At start-up the
/// log's record brings the table and the view back, the table with its rows,
/// and the comments made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_the_catalog_file_missed_are_applied_from_the_log() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE old (id bigint); INSERT INTO old VALUES (1)")
        .await
        .unwrap();
    let catalog = brook.data_dir().join("catalog.json");
    let before = std::fs::read(&catalog).unwrap();
    client
        .batch_execute(
            "BEGIN; CREATE TABLE born (id serial, v text); \
             INSERT INTO born (v) VALUES ('x'), ('y'); CREATE VIEW born_v AS SELECT v FROM born; \
             COMMENT ON TABLE born IS 'made in the transaction'; \
             COMMENT ON COLUMN old.id IS 'commented in it'; \
             INSERT INTO old VALUES (2); COMMIT",
        )
        .await
        .unwrap();
    // The sequence file holds the serial column's sequence already.
    let mut brook = brook;
    brook.kill9();
    std::fs::write(&catalog, &before).unwrap();
    let brook = brook.crash_and_restart();
    let client = brook.client().await;
    let rows: Vec<(i32, String)> = client
        .query("SELECT id, v FROM born ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, vec![(1, "x".to_string()), (2, "y".to_string())]);
    assert_eq!(
        crate::support::count(&client, "SELECT count(*) FROM born_v").await,
        2
    );
    assert_eq!(
        crate::support::count(&client, "SELECT count(*) FROM old").await,
        2
    );
    let comments = client
        .query_one(
            "SELECT obj_description('born'::regclass, 'pg_class'), \
             col_description('old'::regclass, 1)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (comments.get::<_, String>(0), comments.get::<_, String>(1)),
        (
            "made in the transaction".to_string(),
            "commented in it".to_string()
        )
    );
    // The serial column goes on above what it handed out (a crash skips
    // the values its sequence had allowed ahead, as in PostgreSQL).
    client
        .batch_execute("INSERT INTO born (v) VALUES ('z'); CREATE TABLE later (id bigint)")
        .await
        .unwrap();
    assert_eq!(
        crate::support::count(&client, "SELECT count(DISTINCT id) FROM born WHERE id > 0").await,
        3
    );
    // And it stays so across a normal restart.
    let brook = brook.restart();
    let client = brook.client().await;
    assert_eq!(
        crate::support::count(&client, "SELECT count(*) FROM born").await,
        3
    );
}

/// `ALTER TABLE` copies a table into new files while another session keeps
/// inserting into it. Each insert is either acknowledged and in the table
/// after `kill -9`, or refused with 40001 (to be run again) and not in it;
/// an ALTER that raced a write is refused with 40001 too, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_table_under_concurrent_inserts_loses_no_acknowledged_row_across_kill_9() {
    let mut brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE t (id bigint NOT NULL)")
        .await
        .unwrap();
    let writer_client = brook.client().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut acked, mut refused) = (Vec::new(), 0);
            for i in 0i64.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                match writer_client
                    .execute("INSERT INTO t (id) VALUES ($1)", &[&i])
                    .await
                {
                    Ok(_) => acked.push(i),
                    Err(e) if crate::support::sqlstate(&e) == "40001" => refused += 1,
                    Err(e) => panic!("insert {i}: {e:?}"),
                }
            }
            (acked, refused)
        })
    };
    let mut altered = 0;
    for k in 0..6 {
        for _attempt in 0..50 {
            match client
                .batch_execute(&format!("ALTER TABLE t ADD COLUMN c{k} int DEFAULT {k}"))
                .await
            {
                Ok(()) => {
                    altered += 1;
                    break;
                }
                Err(e) if crate::support::sqlstate(&e) == "40001" => continue,
                Err(e) => panic!("ALTER {k}: {e:?}"),
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (acked, _refused) = writer.await.unwrap();
    assert!(altered > 0, "no ALTER got through the writes");
    brook.kill9();
    let brook = brook.crash_and_restart();
    let client = brook.client().await;
    let ids: Vec<i64> = client
        .query("SELECT id FROM t ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        ids, acked,
        "the table holds exactly the acknowledged inserts"
    );
    let columns = count(
        &client,
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 't'",
    )
    .await;
    assert_eq!(columns, 1 + altered, "one column per ALTER that succeeded");
}
