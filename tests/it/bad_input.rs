//! Bad input gets a clear error with the right SQLSTATE, writes nothing, and
//! never harms the server or another session.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tokio_postgres::types::Type;

use crate::support::{Brook, message, sqlstate};

async fn still_serves(brook: &Brook) {
    let client = brook.client().await;
    let one: i64 = client
        .query_one("SELECT 1::bigint", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(one, 1, "server log:\n{}", brook.log());
}

#[tokio::test]
async fn statement_errors_carry_postgres_sqlstates() {
    let brook = Brook::start();
    let client = brook.client().await;
    let other = brook.client().await;
    client
        .batch_execute("CREATE TABLE t (id int NOT NULL, name text)")
        .await
        .unwrap();

    let cases: &[(&str, &str, &str)] = &[
        ("SELEC 1", "42601", "syntax error"),
        (
            "SELECT * FROM nope",
            "42P01",
            "relation \"nope\" does not exist",
        ),
        (
            "SELECT nope FROM t",
            "42703",
            "column \"nope\" does not exist",
        ),
        ("SELECT no_such_function(1)", "42883", "no_such_function"),
        ("INSERT INTO t VALUES ('abc', 'x')", "22P02", "abc"),
        (
            "INSERT INTO t (name) VALUES ('x')",
            "23502",
            "null value in column \"id\" of relation \"t\" violates not-null constraint",
        ),
        (
            "CREATE TABLE t (x int)",
            "42P07",
            "relation \"t\" already exists",
        ),
        ("CREATE TABLE u (x interval)", "0A000", "interval"),
        ("DROP TABLE nope", "42P01", "nope"),
    ];
    for (sql, code, text) in cases {
        let err = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&err), *code, "{sql}: {}", message(&err));
        assert!(message(&err).contains(text), "{sql}: {}", message(&err));
        // The same session goes on working after each error.
        client.simple_query("SELECT 1").await.unwrap();
    }
    // Nothing was written by the failed statements; the other session never noticed.
    let n: i64 = other
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_parameter_of_the_wrong_type_is_refused() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE p (id int NOT NULL); INSERT INTO p VALUES (1)")
        .await
        .unwrap();
    // The client declares TEXT and sends 'abc' where an integer is compared.
    let err = client
        .query_typed(
            "SELECT * FROM p WHERE id = $1::int",
            &[(&"abc", Type::TEXT)],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22P02", "{}", message(&err));
    still_serves(&brook).await;
}

pub fn startup_message() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608i32.to_be_bytes()); // protocol 3.0
    for s in ["user", "brook", "database", "brook"] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    msg.extend(body);
    msg
}

pub fn read_until_ready(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(6).any(|w| w == [b'Z', 0, 0, 0, 5, b'I']) {
        let n = stream.read(&mut buf).expect("server answers startup");
        assert!(n > 0, "server closed during startup");
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn truncated_and_garbage_wire_messages_leave_the_server_serving() {
    let brook = Brook::start();
    // A query message that promises 1000 bytes and delivers 10, then hangs up.
    {
        let mut s = TcpStream::connect(("127.0.0.1", brook.port)).unwrap();
        s.write_all(&startup_message()).unwrap();
        read_until_ready(&mut s);
        let mut msg = vec![b'Q'];
        msg.extend_from_slice(&1000i32.to_be_bytes());
        msg.extend_from_slice(b"SELECT 1; ");
        s.write_all(&msg).unwrap();
    }
    // Not a Postgres client at all.
    {
        let mut s = TcpStream::connect(("127.0.0.1", brook.port)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read(&mut buf);
    }
    // An unknown message type after startup.
    {
        let mut s = TcpStream::connect(("127.0.0.1", brook.port)).unwrap();
        s.write_all(&startup_message()).unwrap();
        read_until_ready(&mut s);
        s.write_all(&[b'!', 0, 0, 0, 4]).unwrap();
        let mut buf = [0u8; 256];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read(&mut buf);
    }
    still_serves(&brook).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_query_harms_no_one() {
    let brook = Brook::start();
    {
        let mut s = TcpStream::connect(("127.0.0.1", brook.port)).unwrap();
        s.write_all(&startup_message()).unwrap();
        read_until_ready(&mut s);
        let sql = b"SELECT count(*) FROM generate_series(1, 100000000) a\0";
        let mut msg = vec![b'Q'];
        msg.extend_from_slice(&((sql.len() + 4) as i32).to_be_bytes());
        msg.extend_from_slice(sql);
        s.write_all(&msg).unwrap();
        // Hang up while the query runs.
    }
    still_serves(&brook).await;
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE after (x int)")
        .await
        .unwrap();
    client
        .execute("INSERT INTO after VALUES (1)", &[])
        .await
        .unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM after", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_a_running_query() {
    let brook = Brook::start();
    let client = brook.client().await;
    let cancel = client.cancel_token();
    let running = tokio::spawn(async move {
        client
            .simple_query("SELECT count(*) FROM generate_series(1, 5000000000) a")
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the cancelled query returns promptly")
        .unwrap();
    let err = result.expect_err("a cancelled query fails");
    assert_eq!(sqlstate(&err), "57014", "{}", message(&err));
    still_serves(&brook).await;
}
