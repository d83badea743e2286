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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_files_huge_values_and_long_names_get_postgres_answers() {
    let brook = Brook::start();
    let other = with_victim(&brook).await;
    let client = brook.client().await;
    // COPY from a server-side file or program reads the server's files.
    for sql in [
        "COPY victim FROM '/etc/passwd'",
        "COPY victim FROM PROGRAM 'id'",
    ] {
        let err = client.simple_query(sql).await.map(|_| ()).unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{sql}: {}", message(&err));
    }
    // A value past PostgreSQL's 1 GB limit is refused before it is built.
    let err = client
        .simple_query("SELECT length(repeat('x', 2000000000))")
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(sqlstate(&err), "54000", "{}", message(&err));
    assert_eq!(message(&err), "requested length too large");
    let err = client
        .simple_query("SELECT lpad('x', 1000000000)")
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(sqlstate(&err), "54000", "{}", message(&err));
    // An identifier longer than 63 bytes is cut, as PostgreSQL cuts it, so
    // the long name reaches the same table everywhere.
    let long = format!("t_{}", "x".repeat(80));
    client
        .batch_execute(&format!(
            "CREATE TABLE {long} (id bigint); INSERT INTO {long} VALUES (7)"
        ))
        .await
        .unwrap();
    assert_eq!(count(&client, &format!("SELECT id FROM {long}")).await, 7);
    let cut = &long[..63];
    assert_eq!(count(&client, &format!("SELECT id FROM {cut}")).await, 7);
    unharmed(&brook, &other).await;
}

/// Read backend messages from `s` until ReadyForQuery; their type bytes.
fn read_until_ready(s: &mut TcpStream) -> Vec<u8> {
    let mut kinds = Vec::new();
    loop {
        let mut header = [0u8; 5];
        s.read_exact(&mut header).expect("a backend message");
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; len - 4];
        s.read_exact(&mut body).expect("its body");
        kinds.push(header[0]);
        if header[0] == b'Z' {
            return kinds;
        }
    }
}

/// A raw socket past the startup of a trusted `brook` user, at ReadyForQuery.
fn logged_in_socket(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut startup = 196608i32.to_be_bytes().to_vec();
    startup.extend_from_slice(b"user\0brook\0database\0brook\0\0");
    let mut packet = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    s.write_all(&packet).unwrap();
    assert_eq!(read_until_ready(&mut s).first(), Some(&b'R'));
    s
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_with_more_parameters_than_fit_is_an_error_not_a_hang_up() {
    let brook = Brook::start();
    let mut s = logged_in_socket(brook.port());
    // 40,000 NULL parameters: PostgreSQL's protocol allows 65,535.
    let mut bind = b"\0\0".to_vec();
    bind.extend_from_slice(&0u16.to_be_bytes());
    bind.extend_from_slice(&40_000u16.to_be_bytes());
    for _ in 0..40_000 {
        bind.extend_from_slice(&(-1i32).to_be_bytes());
    }
    bind.extend_from_slice(&0u16.to_be_bytes());
    let mut messages = frame(b'P', b"\0SELECT 1\0\0\0");
    messages.extend(frame(b'B', &bind));
    messages.extend(frame(b'E', b"\0\0\0\0\0"));
    messages.extend(frame(b'S', b""));
    s.write_all(&messages).unwrap();
    let kinds = read_until_ready(&mut s);
    assert!(kinds.contains(&b'E'), "an ErrorResponse: {kinds:?}");
    // The session goes on.
    s.write_all(&frame(b'Q', b"SELECT 1\0")).unwrap();
    let kinds = read_until_ready(&mut s);
    assert!(
        kinds.contains(&b'D'),
        "a row after the refused Bind: {kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_whose_client_hung_up_stops() {
    let brook = Brook::start();
    let watcher = brook.client().await;
    let mut s = logged_in_socket(brook.port());
    s.write_all(&frame(
        b'Q',
        b"SELECT count(*) FROM generate_series(1, 100000000000) AS g(x) WHERE x % 7 = 3\0",
    ))
    .unwrap();
    let active = "SELECT count(*) FROM information_schema.sessions \
                  WHERE query LIKE '%generate_series(1, 100000000000)%' \
                  AND query NOT LIKE '%information_schema%'";
    let started = Instant::now();
    while count(&watcher, active).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the statement never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The client goes away mid-statement.
    drop(s);
    let gone = Instant::now();
    while count(&watcher, active).await > 0 {
        assert!(
            gone.elapsed() < Duration::from_secs(30),
            "the statement kept running after its client hung up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(count(&watcher, "SELECT 41::bigint + 1").await, 42);
}
