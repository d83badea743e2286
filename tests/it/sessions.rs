//! Per-session state over the wire: what one session SETs stays its own,
//! a pooler's DISCARD ALL hands the next client a clean session, and a
//! transaction left idle past its limit is ended.

use tokio_postgres::SimpleQueryMessage;

use crate::support::{Brook, count, python};

async fn first_value(client: &tokio_postgres::Client, sql: &str) -> String {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sessions_settings_never_reach_another() {
    let brook = Brook::start();
    let a = brook.client().await;
    let b = brook.client().await;
    a.batch_execute(
        "SET TIME ZONE 'Asia/Tokyo'; SET application_name = 'a'; SET myapp.tenant = '7'; \
         SET statement_timeout = '3s'",
    )
    .await
    .unwrap();
    for sql in [
        "SHOW timezone",
        "SELECT current_setting('TimeZone')",
        "SELECT CAST(TIMESTAMPTZ '2024-01-01 00:00:00+00' AS TEXT)",
    ] {
        assert_ne!(
            first_value(&a, sql).await,
            first_value(&b, sql).await,
            "{sql}"
        );
    }
    assert_eq!(first_value(&b, "SHOW timezone").await, "UTC");
    assert_eq!(first_value(&b, "SHOW statement_timeout").await, "0");
    assert_eq!(
        first_value(&b, "SELECT current_setting('myapp.tenant', true)").await,
        "NULL"
    );
    assert_eq!(first_value(&a, "SHOW statement_timeout").await, "3000ms");
}

#[test]
fn a_pooled_connection_is_clean_after_discard_all() {
    let brook = Brook::start();
    // psycopg_pool resets a returned connection with DISCARD ALL (its
    // `reset` callback), as PgBouncer does between clients.
    let script = format!(
        "import psycopg\n\
         c = psycopg.connect('{0}', autocommit=True)\n\
         c.execute(\"SET TIME ZONE 'Asia/Tokyo'\")\n\
         c.execute(\"SET myapp.user = 'alice'\")\n\
         print(c.info.parameter_status('TimeZone'))\n\
         c.execute('DISCARD ALL')\n\
         print(c.info.parameter_status('TimeZone'))\n\
         print(c.execute(\"SELECT current_setting('myapp.user', true)\").fetchone()[0])\n",
        brook.conn_string(),
    );
    let (stdout, stderr) = python(&script);
    assert_eq!(stdout, "Asia/Tokyo\nUTC\nNone\n", "{}", stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_idle_past_its_limit_is_ended_and_rolled_back() {
    let brook = Brook::start();
    let setup = brook.client().await;
    setup
        .batch_execute("CREATE TABLE t (id BIGINT NOT NULL)")
        .await
        .unwrap();
    let idle = brook.client().await;
    idle.batch_execute("SET idle_in_transaction_session_timeout = '300ms'")
        .await
        .unwrap();
    // Idle outside a block: nothing happens.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    idle.batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    let err = idle.batch_execute("COMMIT").await.unwrap_err();
    let db = err
        .as_db_error()
        .map(|d| (d.code().code().to_string(), d.message().to_string()));
    // The FATAL arrives before the client's next message, or the socket is
    // already closed when it is sent.
    if let Some((code, message)) = db {
        assert_eq!(code, "25P03");
        assert_eq!(
            message,
            "terminating connection due to idle-in-transaction timeout"
        );
    } else {
        assert!(
            err.is_closed() || err.to_string().contains("closed"),
            "{err}"
        );
    }
    assert_eq!(count(&setup, "SELECT count(*) FROM t").await, 0);
    // A block that keeps working is not idle.
    let busy = brook.client().await;
    busy.batch_execute("SET idle_in_transaction_session_timeout = '400ms'; BEGIN")
        .await
        .unwrap();
    for i in 0..6 {
        busy.batch_execute(&format!("INSERT INTO t VALUES ({i})"))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    busy.batch_execute("COMMIT").await.unwrap();
    assert_eq!(count(&setup, "SELECT count(*) FROM t").await, 6);
}

#[test]
fn psql_lists_what_the_search_path_makes_visible() {
    let brook = Brook::start();
    let (_, err, ok) = brook.psql(&[
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "CREATE SCHEMA sales",
        "-c",
        "CREATE TABLE public_only (a int)",
        "-c",
        "CREATE TABLE sales.orders (a int)",
    ]);
    assert!(ok, "{err}");
    let (out, err, ok) = brook.psql(&["-v", "ON_ERROR_STOP=1", "-c", "\\dt"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("public_only") && !out.contains("orders"),
        "{out}"
    );
    let (out, err, ok) = brook.psql(&[
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "SET search_path TO sales",
        "-c",
        "\\dt",
        "-c",
        "SELECT count(*) AS n FROM orders",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("orders") && !out.contains("public_only"),
        "{out}"
    );
    assert!(out.contains(" n \n"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_table_is_its_sessions_alone_and_ends_with_it() {
    let brook = Brook::start();
    let a = brook.client().await;
    a.batch_execute("CREATE TEMP TABLE mine (x INT); INSERT INTO mine VALUES (1), (2)")
        .await
        .unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM mine").await, 2);
    let b = brook.client().await;
    let err = b.simple_query("SELECT * FROM mine").await.unwrap_err();
    assert_eq!(crate::support::sqlstate(&err), "42P01");
    // A table of the same name in another session is another table.
    b.batch_execute("CREATE TEMP TABLE mine (x INT)")
        .await
        .unwrap();
    assert_eq!(count(&b, "SELECT count(*) FROM mine").await, 0);
    // Nothing of it reached the durable catalog.
    assert_eq!(
        count(
            &b,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'mine' \
             AND table_schema <> 'pg_temp'"
        )
        .await,
        0
    );
    drop(a);
    let c = brook.client().await;
    let err = c.simple_query("SELECT * FROM mine").await.unwrap_err();
    assert_eq!(crate::support::sqlstate(&err), "42P01");
    let restarted = brook.restart();
    let d = restarted.client().await;
    assert!(d.simple_query("SELECT * FROM mine").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_catalog_shows_its_own_relations_and_no_one_elses() {
    use futures::SinkExt;
    let brook = Brook::start();
    let a = brook.client().await;
    a.batch_execute(
        "CREATE TABLE shared (x INT); \
         CREATE TEMP TABLE scratch (id INT NOT NULL, note TEXT)",
    )
    .await
    .unwrap();
    // COPY loads a temporary table, in one piece.
    let sink = a
        .copy_in("COPY scratch FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"1,one\n2,two\n"))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);
    let sink = a
        .copy_in("COPY scratch FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"3,three\n,none\n"))
        .await
        .unwrap();
    let err = sink.finish().await.unwrap_err();
    assert!(
        crate::support::message(&err).contains("id"),
        "a NULL id is refused: {err}"
    );
    assert_eq!(count(&a, "SELECT count(*) FROM scratch").await, 2);

    // The session's catalog lists its temporary table, as PostgreSQL's does.
    assert_eq!(
        first_value(
            &a,
            "SELECT relpersistence FROM pg_class WHERE relname = 'scratch'"
        )
        .await,
        "t"
    );
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM pg_class c WHERE relname = 'scratch' AND pg_table_is_visible(c.oid)"
        )
        .await,
        1
    );
    assert_eq!(
        first_value(
            &a,
            "SELECT string_agg(column_name || ':' || is_nullable, ',' ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_name = 'scratch'"
        )
        .await,
        "id:NO,note:YES"
    );
    let b = brook.client().await;
    assert_eq!(
        count(
            &b,
            "SELECT count(*) FROM pg_class WHERE relname = 'scratch'"
        )
        .await,
        0
    );

    // A block's own schema changes: seen by it at once, by others after COMMIT.
    let listed = "SELECT string_agg(table_name, ',' ORDER BY table_name) \
                  FROM information_schema.tables WHERE table_name IN ('fresh', 'shared')";
    a.batch_execute("BEGIN; CREATE TABLE fresh (y INT PRIMARY KEY); DROP TABLE shared")
        .await
        .unwrap();
    assert_eq!(
        first_value(
            &a,
            "SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k \
             JOIN pg_class c ON k.conrelid = c.oid WHERE c.relname = 'fresh'"
        )
        .await,
        "PRIMARY KEY (y)"
    );
    assert_eq!(first_value(&a, listed).await, "fresh");
    assert_eq!(first_value(&b, listed).await, "shared");
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON a.attrelid = c.oid \
             WHERE c.relname = 'fresh' AND a.attname = 'y'"
        )
        .await,
        1
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(first_value(&a, listed).await, "shared");

    // TRUNCATE empties it (and a ROLLBACK would undo that, as any write).
    a.batch_execute("BEGIN; TRUNCATE scratch").await.unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM scratch").await, 0);
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM scratch").await, 2);
    a.batch_execute("TRUNCATE scratch").await.unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM scratch").await, 0);

    // psql's \dt lists a session's temporary tables in its pg_temp schema.
    let (out, err, ok) = brook.psql(&[
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "CREATE TEMP TABLE listed (a int)",
        "-c",
        "\\dt",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("pg_temp") && out.contains("listed"), "{out}");
}

#[test]
fn sql_level_prepare_answers_with_postgresqls_tags() {
    let brook = Brook::start();
    let (out, err, ok) = brook.psql(&[
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "PREPARE next_one(INT) AS SELECT $1 + 1 AS n",
        "-c",
        "EXECUTE next_one(1)",
        "-c",
        "DEALLOCATE next_one",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("PREPARE\n"), "{out}");
    assert!(out.ends_with("DEALLOCATE\n"), "{out}");
}
