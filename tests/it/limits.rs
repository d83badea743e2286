//! Resource limits as users meet them: too many connections (53300), the
//! statement timeout (57014), the query memory limit (53200) with ingest
//! going on beside it, and a full or read-only data directory (53100) that
//! stops a pipeline in `Error` without losing or doubling a row.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::kafka::Tansu;
use crate::pipelines::{json, wait_state};
use crate::support::{Brook, count, message, sqlstate, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_get_53300_and_free_slots_are_reused() {
    let brook = Brook::start_with("127.0.0.1", &["--max-connections".into(), "3".into()]);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(brook.client().await);
    }
    let err = tokio_postgres::connect(&brook.conn_string(), tokio_postgres::NoTls)
        .await
        .err()
        .expect("a fourth session is refused");
    assert_eq!(sqlstate(&err), "53300");
    assert_eq!(message(&err), "sorry, too many clients already");
    let (_, stderr, ok) = brook.psql(&["-c", "SELECT 1"]);
    assert!(!ok && stderr.contains("too many clients"), "{stderr}");

    // The admitted sessions are unharmed; a closed one frees its place.
    for client in &held {
        assert_eq!(count(client, "SELECT 7::bigint").await, 7);
    }
    drop(held.pop());
    let mut reconnected = None;
    for _ in 0..50 {
        if let Ok((client, connection)) =
            tokio_postgres::connect(&brook.conn_string(), tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            reconnected = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = reconnected.expect("a freed slot admits a new session");
    assert_eq!(count(&client, "SELECT 8::bigint").await, 8);
}

/// Long enough that only a timeout or a cancel ends it.
const ENDLESS: &str = "SELECT count(*) FROM generate_series(1, 50000000000) a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_ends_a_long_query_and_the_session_goes_on() {
    // The server default applies to every session…
    let brook = Brook::start_with("127.0.0.1", &["--statement-timeout".into(), "300ms".into()]);
    let client = brook.client().await;
    let shown = client.simple_query("SHOW statement_timeout").await.unwrap();
    assert!(format!("{shown:?}").contains("300ms"), "{shown:?}");
    let err = client.simple_query(ENDLESS).await.unwrap_err();
    assert_eq!(sqlstate(&err), "57014");
    assert_eq!(
        message(&err),
        "canceling statement due to statement timeout"
    );
    assert_eq!(count(&client, "SELECT 1::bigint").await, 1);

    // …and a session may change its own, on both protocols.
    client
        .batch_execute("SET statement_timeout = '150ms'")
        .await
        .unwrap();
    let err = client.query(ENDLESS, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "57014", "{}", message(&err));
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    let short = "SELECT count(*) FROM generate_series(1, 20000000) a";
    assert_eq!(count(&client, short).await, 20_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_the_memory_limit_fails_alone_while_ingest_goes_on() {
    let kafka = Tansu::start();
    kafka.create_topic("steady", 1).await;
    let messages =
        |from: i64, to: i64| (from..to).map(|i| (0, json(serde_json::json!({ "id": i }))));
    kafka.produce("steady", messages(0, 500)).await;
    let brook = Brook::start_with("127.0.0.1", &["--memory-limit".into(), "64MB".into()]);
    let client = brook.client().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE steady (id bigint); \
             CREATE PIPELINE steady AS LOAD DATA KAFKA '{}/steady' BATCH_INTERVAL 100 \
             INTO TABLE steady FORMAT JSON; START PIPELINE steady",
            kafka.brokers()
        ))
        .await
        .unwrap();
    wait_for(&brook, &client, "SELECT count(*) FROM steady", 500).await;

    // About 800 MB of aggregate state against a 64 MB pool.
    let runaway = brook.client().await;
    let producing = tokio::spawn(async move {
        kafka.produce("steady", messages(500, 1000)).await;
        kafka
    });
    let err = runaway
        .simple_query("SELECT cardinality(array_agg(v)) FROM generate_series(1, 100000000) t(v)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "53200", "{}", message(&err));
    assert!(message(&err).contains("memory_limit"), "{}", message(&err));

    // The pipeline kept going; the same session and others still answer.
    let kafka = producing.await.unwrap();
    wait_for(&brook, &client, "SELECT count(*) FROM steady", 1000).await;
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM steady").await,
        1000
    );
    assert_eq!(wait_state(&brook, &client, "steady", "Running").await, None);
    assert_eq!(
        count(&runaway, "SELECT count(*) FROM generate_series(1, 1000)").await,
        1000
    );
    drop(kafka);
}

/// A tmpfs mounted for the test's data directory, unmounted on drop.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// Needs root (as CI runs) to mount.
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            path: path.to_path_buf(),
        }
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Rows with 640 characters of hex noise each (about 320 bytes in Parquet):
/// 20,000 of them need far more than the 4 MB disk.
fn bulky(from: i64, to: i64) -> impl Iterator<Item = (i32, Vec<u8>)> {
    (from..to).map(|i| {
        let noise: String = (0..80)
            .map(|k| {
                format!(
                    "{:08x}",
                    (i * 2654435761 + k * 40503).wrapping_mul(2246822519) as u32
                )
            })
            .collect();
        (0, json(serde_json::json!({ "id": i, "noise": noise })))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_read_only_disk_stops_the_pipeline_in_error_and_loses_nothing() {
    let kafka = Tansu::start();
    kafka.create_topic("bulk", 1).await;
    kafka.produce("bulk", bulky(0, 200)).await;
    let dir = tempfile::tempdir().unwrap();
    // The data directory is the mount itself; the server's log sits beside it.
    let disk = SmallDisk::mount(&dir.path().join("data"), "4m");
    let mut brook = Some(Brook::start_on(&disk.path));
    let server = brook.as_ref().unwrap();
    let client = server.client().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE bulk (id bigint, noise text); \
             CREATE PIPELINE bulk AS LOAD DATA KAFKA '{}/bulk' BATCH_INTERVAL 100 \
             MAX_OFFSETS_PER_BATCH_PARTITION 1000 INTO TABLE bulk FORMAT JSON; START PIPELINE bulk",
            kafka.brokers()
        ))
        .await
        .unwrap();
    wait_for(server, &client, "SELECT count(*) FROM bulk", 200).await;

    // Far more than 4 MB: the disk fills mid-ingest.
    kafka.produce("bulk", bulky(200, 20_000)).await;
    let error = wait_state(server, &client, "bulk", "Error")
        .await
        .unwrap_or_default();
    assert!(error.contains("No space left on device"), "{error}");
    let stuck = count(&client, "SELECT count(*) FROM bulk").await;
    assert!(stuck < 20_000, "{stuck}");

    // Reads go on; a write by hand fails with 53100 and the same reason.
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM bulk").await,
        stuck
    );
    let err = client
        .batch_execute(
            "INSERT INTO bulk SELECT v, repeat('x', 1000) FROM generate_series(1, 50000) t(v)",
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "53100", "{}", message(&err));
    let committed = count(
        &client,
        "SELECT committed_offset FROM information_schema.pipelines_cursors WHERE pipeline_name = 'bulk'",
    )
    .await;
    assert_eq!(committed, stuck, "the offsets moved past the rows");

    // (A read-only remount cannot be tested on a live server: the kernel
    // refuses it with EBUSY while the write-ahead log is open for writing.
    // EROFS maps to 53100 like ENOSPC: `error::tests`.)

    // Room again: the pipeline resumes where it stopped, exactly once.
    disk.remount("rw,size=512m");
    client.batch_execute("START PIPELINE bulk").await.unwrap();
    wait_for(server, &client, "SELECT count(*) FROM bulk", 20_000).await;
    assert_eq!(
        count(&client, "SELECT count(DISTINCT id) FROM bulk").await,
        20_000
    );

    // And a restart finds every committed row.
    drop(client);
    let restarted = brook.take().unwrap().restart();
    let client = restarted.client().await;
    assert_eq!(count(&client, "SELECT count(*) FROM bulk").await, 20_000);
    drop(client);
    drop(restarted);
    drop(disk);
}

/// Fill the file system holding `path` to its last byte.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let mut chunk = 1 << 20;
    while chunk > 0 {
        if file.write_all(&vec![0x5a; chunk]).is_err() {
            chunk /= 2;
        }
    }
    let _ = file.sync_all();
}

/// A COMMIT that cannot be written (the disk is full) answers 53100 and
/// applies nothing of the transaction: both tables are as they were before
/// BEGIN, for the session, for another one and after a restart. With room
/// again, the next transaction commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_a_full_disk_fails_whole_with_53100() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("data"), "32m");
    let brook = Brook::start_on(&disk.path);
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE a (id int, pad text); CREATE TABLE b (id int, n int);
             INSERT INTO a VALUES (1, 'x'); INSERT INTO b VALUES (1, 10);",
        )
        .await
        .unwrap();
    let filler = disk.path.join("filler");
    fill(&filler);
    client
        .batch_execute(
            "BEGIN;
             INSERT INTO a SELECT v, repeat('y', 2000) FROM generate_series(2, 3000) t(v);
             UPDATE b SET n = n + 1;
             DELETE FROM a WHERE id = 1;",
        )
        .await
        .unwrap();
    let err = client.batch_execute("COMMIT").await.unwrap_err();
    assert_eq!(sqlstate(&err), "53100", "{}", message(&err));
    assert!(
        message(&err).contains("No space left on device"),
        "{}",
        message(&err)
    );
    let other = brook.client().await;
    for session in [&client, &other] {
        assert_eq!(
            count(session, "SELECT count(*) FROM a WHERE id = 1").await,
            1
        );
        assert_eq!(count(session, "SELECT count(*) FROM a").await, 1);
        assert_eq!(count(session, "SELECT sum(n) FROM b").await, 10);
    }
    std::fs::remove_file(&filler).unwrap();
    client
        .batch_execute("BEGIN; UPDATE b SET n = n + 5; INSERT INTO a VALUES (2, 'z'); COMMIT")
        .await
        .unwrap();
    drop((client, other));
    let restarted = brook.restart();
    let client = restarted.client().await;
    assert_eq!(count(&client, "SELECT count(*) FROM a").await, 2);
    assert_eq!(count(&client, "SELECT sum(n) FROM b").await, 15);
    drop(client);
    drop(restarted);
    drop(disk);
}
