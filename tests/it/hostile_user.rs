//! A logged-in or anonymous user trying to reach the server's code, files,
//! memory or other sessions (issue #19). Each case asserts the error the user
//! sees, that the server is still up, and that another session is unharmed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::support::{Brook, count, message, sqlstate};

/// Another session's view: it still answers, with its own settings.
async fn unharmed(brook: &Brook, other: &Client) {
    assert_eq!(count(other, "SELECT 41::bigint + 1").await, 42);
    let fresh = brook.client().await;
    assert_eq!(count(&fresh, "SELECT count(*) FROM victim").await, 3);
}

async fn with_victim(brook: &Brook) -> Client {
    let other = brook.client().await;
    other
        .batch_execute("CREATE TABLE victim (id BIGINT); INSERT INTO victim VALUES (1), (2), (3)")
        .await
        .unwrap();
    other
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_settings_that_load_code_or_read_files_are_refused() {
    let brook = Brook::start();
    let other = with_victim(&brook).await;
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE events (id BIGINT)")
        .await
        .unwrap();
    for (clause, key) in [
        ("CONFIG", "plugin.library.paths"),
        ("CONFIG", "ssl.engine.location"),
        ("CREDENTIALS", "plugin.library.paths"),
        ("CONFIG", "sasl.kerberos.kinit.cmd"),
        ("CONFIG", "ssl.ca.location"),
        ("CONFIG", "bootstrap.servers"),
    ] {
        let sql = format!(
            "CREATE PIPELINE p AS LOAD DATA KAFKA '127.0.0.1:9/events' \
             {clause} '{{\"{key}\": \"/tmp/evil.so\"}}' INTO TABLE events FORMAT JSON"
        );
        let err = client.batch_execute(&sql).await.unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{key}: {}", message(&err));
        assert!(message(&err).contains(key), "{}", message(&err));
    }
    // Nothing was stored.
    assert_eq!(
        count(&client, "SELECT count(*) FROM information_schema.pipelines").await,
        0
    );
    unharmed(&brook, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_arguments_run_only_queries() {
    let brook = Brook::start();
    let other = with_victim(&brook).await;
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE pts (x DOUBLE PRECISION, l BOOLEAN);
             INSERT INTO pts VALUES (1, false), (2, false), (3, true), (4, true), (1.5, false), (3.5, true);
             CREATE MODEL m OPTIONS (model_type = 'logistic_reg', input_label_cols = ['l']) AS SELECT x, l FROM pts",
        )
        .await
        .unwrap();
    let target = brook.data_dir().with_extension("stolen.csv");
    for inner in [
        format!("COPY (SELECT 1) TO ''{}''", target.display()),
        "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION ''/etc/passwd''".to_string(),
        "DROP TABLE victim".to_string(),
        "SELECT x, l FROM pts; DROP TABLE victim".to_string(),
    ] {
        for function in ["EVALUATE", "CONFUSION_MATRIX"] {
            let sql = format!("SELECT * FROM {function}('m', '{inner}')");
            let err = client.simple_query(&sql).await.unwrap_err();
            assert_eq!(sqlstate(&err), "42501", "{sql}: {}", message(&err));
        }
    }
    assert!(!target.exists(), "a file was written");
    // A query still works.
    let rows = client
        .simple_query("SELECT * FROM EVALUATE('m', 'SELECT x, l FROM pts')")
        .await
        .unwrap();
    assert!(!rows.is_empty());
    unharmed(&brook, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_values_stay_values_in_multi_statement_messages() {
    let brook = Brook::start();
    let other = with_victim(&brook).await;
    let client = brook.client().await;
    // A column named `model` sends the message down the statement splitter.
    client
        .batch_execute("CREATE TABLE notes (model TEXT)")
        .await
        .unwrap();
    client
        .simple_query(
            "INSERT INTO notes (model) VALUES ('x''); DROP TABLE victim; --'); \
             SELECT count(*) FROM notes",
        )
        .await
        .unwrap();
    let rows = client.query("SELECT model FROM notes", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "x'); DROP TABLE victim; --");
    unharmed(&brook, &other).await;

    // The client-compatibility rewrites apply in such messages too.
    let rows = client
        .simple_query("SELECT 'model' AS w; SELECT to_regtype('int4') IS NOT NULL AS known")
        .await
        .unwrap();
    let known: Vec<&str> = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0),
            _ => None,
        })
        .collect();
    assert_eq!(known, ["model", "t"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_that_overflowed_the_stack_get_errors_and_the_server_stays_up() {
    let brook = Brook::start();
    let other = with_victim(&brook).await;
    let client = brook.client().await;
    // psql's \du.
    let rows = client
        .query("SELECT rolname FROM pg_catalog.pg_roles", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "brook");
    let (out, err, ok) = brook.psql(&["-c", "\\du"]);
    assert!(ok, "{err}");
    assert!(out.contains("brook"), "{out}");

    for sql in [
        format!("SELECT {}", vec!["1"; 10_000].join("+")),
        format!("SELECT 1 WHERE {}", vec!["true"; 100_000].join(" AND ")),
        format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000)),
    ] {
        let err = client.simple_query(&sql).await.unwrap_err();
        assert_eq!(sqlstate(&err), "54001", "{}", message(&err));
        let err = client.query(&sql, &[]).await.unwrap_err();
        assert_eq!(sqlstate(&err), "54001", "{}", message(&err));
    }
    // A long but shallow statement is fine.
    let sum = format!("SELECT {}::bigint", vec!["1"; 500].join("+"));
    assert_eq!(count(&client, &sum).await, 500);
    unharmed(&brook, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sessions_settings_stay_its_own() {
    let brook = Brook::start_with("127.0.0.1", &["--memory-limit".into(), "512MB".into()]);
    let other = with_victim(&brook).await;
    let client = brook.client().await;
    for sql in [
        "SET datafusion.runtime.memory_limit = '1K'",
        "SET datafusion.runtime.memory_limit = '1000G'",
        "SET datafusion.runtime.temp_directory = '/tmp/brook-evil'",
    ] {
        let err = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{sql}: {}", message(&err));
    }
    assert!(!std::path::Path::new("/tmp/brook-evil").exists());
    // A session's time zone shifts its own timestamps only.
    client
        .simple_query("SET timezone = 'Asia/Tokyo'")
        .await
        .unwrap();
    let mine = client
        .query(
            "SELECT CAST(TIMESTAMPTZ '2024-01-01 00:00:00+00' AS TEXT)",
            &[],
        )
        .await
        .unwrap();
    let theirs = other
        .query(
            "SELECT CAST(TIMESTAMPTZ '2024-01-01 00:00:00+00' AS TEXT)",
            &[],
        )
        .await
        .unwrap();
    let (mine, theirs): (String, String) = (mine[0].get(0), theirs[0].get(0));
    assert!(mine.contains("09:00"), "{mine}");
    assert!(theirs.contains("00:00:00"), "{theirs}");
    // DataFusion options are per session too.
    client
        .simple_query("SET datafusion.execution.batch_size = 7")
        .await
        .unwrap();
    unharmed(&brook, &other).await;
}

/// A raw socket that sends a startup packet's first bytes and then nothing.
fn silent_socket(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&[0, 0]).unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_never_log_in_do_not_lock_users_out() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::security::config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &[
            "--max-connections".into(),
            "5".into(),
            "--config".into(),
            config.display().to_string(),
        ],
    );
    let silent: Vec<TcpStream> = (0..110).map(|_| silent_socket(brook.port())).collect();
    // A real user still gets in (the slots were taken at accept before).
    let url = format!(
        "host=127.0.0.1 port={} user=analyst password='{}' dbname=brook",
        brook.port(),
        crate::security::PASSWORD
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("a user logs in beside 110 silent sockets");
    tokio::spawn(connection);
    assert_eq!(count(&client, "SELECT 1::bigint").await, 1);
    drop(silent);

    // A password message that declares 256 MiB is refused, not buffered.
    let mut s = TcpStream::connect(("127.0.0.1", brook.port())).unwrap();
    let mut startup = Vec::new();
    startup.extend_from_slice(&196608i32.to_be_bytes());
    startup.extend_from_slice(b"user\0analyst\0database\0brook\0\0");
    let mut packet = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    s.write_all(&packet).unwrap();
    let mut reply = [0u8; 256];
    let _ = s.read(&mut reply).unwrap();
    let mut huge = vec![b'p'];
    huge.extend_from_slice(&(256 * 1024 * 1024i32).to_be_bytes());
    s.write_all(&huge).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(
        String::from_utf8_lossy(&answer).contains("08P01"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // Wrong passwords are answered slower and slower.
    let bad = format!(
        "host=127.0.0.1 port={} user=analyst password=wrong dbname=brook",
        brook.port()
    );
    let started = Instant::now();
    for _ in 0..4 {
        let err = tokio_postgres::connect(&bad, tokio_postgres::NoTls)
            .await
            .err()
            .expect("a wrong password is refused");
        assert_eq!(sqlstate(&err), "28P01");
    }
    // 250 + 500 + 1000 + 2000 ms at least.
    assert!(started.elapsed() >= Duration::from_millis(3_500));
    assert_eq!(count(&client, "SELECT 2::bigint").await, 2);
}
