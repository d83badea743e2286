//! Answers that used to differ silently from PostgreSQL's (issue #19), each
//! now PostgreSQL's answer or a clear error, over the wire.

use futures::SinkExt;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::support::{Brook, count, message, sqlstate};

async fn ids(client: &Client, sql: &str) -> Vec<i64> {
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get::<_, i64>(0))
        .collect()
}

async fn fill(client: &Client) {
    client
        .batch_execute(
            "CREATE TABLE t (id BIGINT, v TEXT);
             INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e');
             CREATE TABLE keep (id BIGINT);
             INSERT INTO keep VALUES (2), (4), (NULL);",
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_delete_with_subqueries_change_only_the_matching_rows() {
    let brook = Brook::start();
    let client = brook.client().await;
    fill(&client).await;

    // DELETE … WHERE id IN (SELECT …): one row, not all five.
    let n = client
        .execute(
            "DELETE FROM t WHERE id IN (SELECT id FROM keep WHERE id = 2)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        ids(&client, "SELECT id FROM t ORDER BY id").await,
        [1, 3, 4, 5]
    );

    // UPDATE … WHERE id IN (SELECT …).
    let n = client
        .execute(
            "UPDATE t SET v = 'kept' WHERE id IN (SELECT id FROM keep)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        count(&client, "SELECT count(*) FROM t WHERE v = 'kept'").await,
        1
    );

    // NOT IN over a subquery with a NULL matches nothing in PostgreSQL;
    // Brook refuses it rather than deleting rows.
    let err = client
        .execute("DELETE FROM t WHERE id NOT IN (SELECT id FROM keep)", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "0A000", "{}", message(&err));
    let n = client
        .execute(
            "DELETE FROM t WHERE id NOT IN (SELECT id FROM keep WHERE id IS NOT NULL) AND id > 4",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    client
        .execute("INSERT INTO t VALUES (5, 'e')", &[])
        .await
        .unwrap();

    // EXISTS that is false deletes nothing; one that is true deletes all.
    let n = client
        .execute(
            "DELETE FROM t WHERE EXISTS (SELECT 1 FROM keep WHERE id = 99)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 4);

    // A WHERE that is false changes nothing (DataFusion drops it).
    let n = client
        .execute("DELETE FROM t WHERE 1 = 0", &[])
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 4);

    // A scalar subquery, and an empty IN.
    let n = client
        .execute("DELETE FROM t WHERE id = (SELECT max(id) FROM keep)", &[])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n = client
        .execute(
            "DELETE FROM t WHERE id IN (SELECT id FROM keep WHERE false)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        ids(&client, "SELECT id FROM t ORDER BY id").await,
        [1, 3, 5]
    );

    // The same through the extended protocol with a parameter.
    let n = client
        .execute(
            "UPDATE t SET v = 'p' WHERE id IN (SELECT id + $1 FROM keep WHERE id = 2)",
            &[&1i64],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(ids(&client, "SELECT id FROM t WHERE v = 'p'").await, [3]);

    // A subquery returning two rows where one value is needed: 21000.
    let err = client
        .execute(
            "DELETE FROM t WHERE id = (SELECT id FROM keep WHERE id IS NOT NULL)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "21000", "{}", message(&err));

    // A correlated subquery is refused, not applied to every row.
    let err = client
        .execute(
            "DELETE FROM t WHERE EXISTS (SELECT 1 FROM keep k WHERE k.id = t.id)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "0A000", "{}", message(&err));
    assert!(message(&err).contains("correlated"), "{}", message(&err));
    // Nothing changed by the refused statements.
    assert_eq!(
        ids(&client, "SELECT id FROM t ORDER BY id").await,
        [1, 3, 5]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_in_one_message_apply_to_the_statements_after_them() {
    let brook = Brook::start();
    let client = brook.client().await;
    let err = client
        .simple_query(
            "SET statement_timeout = '50ms'; \
             SELECT count(*) FROM generate_series(1, 50000000000) a",
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "57014", "{}", message(&err));
    assert!(message(&err).contains("statement timeout"));
    client
        .simple_query("SET statement_timeout = 0")
        .await
        .unwrap();

    // Bad values and unknown settings are errors, as in PostgreSQL.
    let err = client
        .simple_query("SET statement_timeout = 'banana'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22023", "{}", message(&err));
    let err = client
        .simple_query("SET no_such_setting = 5")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42704", "{}", message(&err));
    assert!(message(&err).contains("unrecognized configuration parameter"));
    let err = client
        .simple_query("SET TIME ZONE 'Mars/Olympus_Mons'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22023", "{}", message(&err));
    // A custom placeholder (with a dot) is kept, as PostgreSQL keeps it.
    client.simple_query("SET myapp.tenant = 7").await.unwrap();
}

/// Each row of `sql`'s answer as text, cells joined with `|`, NULL as ``.
async fn rows(client: &Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", message(&e)))
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect()
}

async fn refused(client: &Client, sql: &str) -> (String, String) {
    let err = client.simple_query(sql).await.map(|_| ()).expect_err(sql);
    (sqlstate(&err), message(&err))
}

/// [`refused`] with the error's DETAIL line.
async fn refused_with_detail(client: &Client, sql: &str) -> (String, String, Option<String>) {
    let err = client.simple_query(sql).await.map(|_| ()).expect_err(sql);
    let detail = err
        .as_db_error()
        .and_then(|d| d.detail())
        .map(str::to_string);
    (sqlstate(&err), message(&err), detail)
}

// Every expected answer below is what PostgreSQL 15 printed for the same SQL.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subqueries_nulls_and_set_operations_answer_as_postgres_does() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE t1 (a int); INSERT INTO t1 VALUES (1),(2),(9),(5);
             CREATE TABLE t2 (x int); INSERT INTO t2 VALUES (1),(2),(3),(4),(5),(6);",
        )
        .await
        .unwrap();
    // Correlated scalar subqueries whose correlation is not an equality.
    assert_eq!(
        rows(
            &client,
            "SELECT a, (SELECT count(*) FROM t2 AS x WHERE x.x > t1.a) AS n FROM t1 ORDER BY a"
        )
        .await,
        ["1|5", "2|4", "5|1", "9|0"]
    );
    assert_eq!(
        rows(
            &client,
            "SELECT a, (SELECT min(x) FROM t2 WHERE t2.x > t1.a) AS lo, \
             (SELECT max(x) FROM t2 WHERE t2.x < t1.a) AS hi FROM t1 ORDER BY a"
        )
        .await,
        ["1|2|", "2|3|1", "5|6|4", "9||6"]
    );
    // Three-valued logic.
    for (sql, expected) in [
        ("SELECT count(*) FROM t1 WHERE a NOT IN (1, NULL)", "0"),
        ("SELECT count(*) FROM t1 WHERE a BETWEEN 5 AND NULL", "0"),
        ("SELECT count(*) FROM t1 WHERE a > 0 AND a + 57 < NULL", "0"),
        (
            "SELECT count(*) FROM t1 WHERE (a > 3) IS DISTINCT FROM false AND a < 9",
            "1",
        ),
    ] {
        assert_eq!(rows(&client, sql).await, [expected], "{sql}");
    }
    // Multiplicities of INTERSECT ALL and EXCEPT ALL (NULLs count as equal).
    assert_eq!(
        rows(
            &client,
            "SELECT x FROM (VALUES (1),(1),(1),(2),(NULL),(NULL)) v(x) INTERSECT ALL \
             SELECT x FROM (VALUES (1),(1),(3),(NULL)) w(x) ORDER BY 1"
        )
        .await,
        ["1", "1", ""]
    );
    assert_eq!(
        rows(
            &client,
            "SELECT x FROM (VALUES (1),(1),(1),(2),(NULL),(NULL)) v(x) EXCEPT ALL \
             SELECT x FROM (VALUES (1),(3),(NULL)) w(x) ORDER BY 1"
        )
        .await,
        ["1", "1", "2", ""]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arithmetic_casts_and_formats_answer_as_postgres_does() {
    let brook = Brook::start();
    let client = brook.client().await;
    assert_eq!(
        rows(
            &client,
            "SELECT 2.5::int AS a, (-2.5)::int AS b, 2.5::float8::int AS c, 3.5::float8::int AS d, \
             (2 ^ 10)::int AS e, 5 # 3 AS f"
        )
        .await,
        ["3|-3|2|4|1024|6"]
    );
    client
        .batch_execute("CREATE TABLE n (i int); INSERT INTO n VALUES (2147483647)")
        .await
        .unwrap();
    // An operator over untyped NULLs alone has no type to choose.
    let (code, text) = refused(&client, "SELECT - NULL").await;
    assert_eq!(
        (code.as_str(), text.as_str()),
        ("42725", "operator is not unique: - unknown")
    );
    assert_eq!(
        rows(
            &client,
            "SELECT to_char(timestamp '2024-03-05 14:07:09', 'YYYY-MM-DD HH24:MI'), \
             to_char(1234.5, '9,999.99')"
        )
        .await,
        ["2024-03-05 14:07| 1,234.50"]
    );
    // Overflow is an error, never a wrapped or widened number.
    for (sql, text) in [
        ("SELECT 2147483647::int + 1", "integer out of range"),
        (
            "SELECT 9223372036854775807::bigint + 1",
            "bigint out of range",
        ),
        (
            "SELECT (-9223372036854775807)::bigint - 2",
            "bigint out of range",
        ),
        ("SELECT 65536::int * 65536", "integer out of range"),
        // Constants fold while planning, as in PostgreSQL: an overflow in a
        // branch that depends on the data is an error all the same.
        (
            "SELECT CASE count(*) WHEN 13 THEN -79 * -91 * -73 * 67 * 94 END FROM n",
            "integer out of range",
        ),
    ] {
        let (code, message) = refused(&client, sql).await;
        assert_eq!(code, "22003", "{sql}: {message}");
        assert!(message.contains(text), "{sql}: {message}");
    }

    let (code, message) = refused(&client, "SELECT i + 1 FROM n").await;
    assert_eq!(code, "22003", "{message}");
    // Below the limit the same expression answers.
    assert_eq!(rows(&client, "SELECT i - 1 FROM n").await, ["2147483646"]);
    // In binary too (the extended protocol): the rows match the types the
    // statement was described with, PostgreSQL's: integer arithmetic on an
    // integer column is integer.
    let row = client
        .query_one("SELECT i - 1, i * 0 + 2, (i - 2147483640) * 3 FROM n", &[])
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i32>(0),
            row.get::<_, i32>(1),
            row.get::<_, i32>(2)
        ),
        (2147483646, 2, 21)
    );
    // A CASE or UNION whose branches type coercion widens is described with
    // the widened type: described as integer and sent as bigint, binary
    // clients read every value as 0.
    let row = client
        .query_one(
            "SELECT CASE WHEN i > 0 THEN i ELSE 3000000000 END FROM n",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2147483647);
    let mut got: Vec<i64> = client
        .query("SELECT i FROM n UNION ALL SELECT 3000000000", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    got.sort();
    assert_eq!(got, [2147483647, 3000000000]);
    let (code, message) = refused(
        &client,
        "CREATE TABLE d (x numeric(5,2)); INSERT INTO d VALUES (12345.67)",
    )
    .await;
    assert_eq!(code, "22003", "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_lengths_and_keys_are_kept() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE people (id bigint PRIMARY KEY, code varchar(3));
             INSERT INTO people VALUES (1, 'abc'), (2, 'ab   ');",
        )
        .await
        .unwrap();
    // Trailing blanks beyond the length are cut, as PostgreSQL does.
    assert_eq!(
        rows(&client, "SELECT id, code || '|' FROM people ORDER BY id").await,
        ["1|abc|", "2|ab |"]
    );
    let (code, text) = refused(&client, "INSERT INTO people VALUES (3, 'abcdef')").await;
    assert_eq!(code, "22001");
    assert_eq!(text, "value too long for type character varying(3)");
    let (code, text) = refused(
        &client,
        "UPDATE people SET code = code || 'xyz' WHERE id = 1",
    )
    .await;
    assert_eq!(code, "22001", "{text}");
    // A duplicate key, stored or within the statement, is 23505 and writes nothing.
    assert_eq!(
        refused_with_detail(&client, "INSERT INTO people VALUES (1, 'x')").await,
        (
            "23505".to_string(),
            "duplicate key value violates unique constraint \"people_pkey\"".to_string(),
            Some("Key (id)=(1) already exists.".to_string())
        )
    );
    let (code, _) = refused(&client, "INSERT INTO people VALUES (7, 'x'), (7, 'y')").await;
    assert_eq!(code, "23505");
    assert_eq!(
        rows(&client, "SELECT id, code FROM people ORDER BY id").await,
        ["1|abc", "2|ab "]
    );
    // Blank-padded character(n) would compare unlike PostgreSQL's: refused.
    let (code, _) = refused(&client, "CREATE TABLE c (x character(4))").await;
    assert_eq!(code, "0A000");
}

/// A UNIQUE constraint is kept with the table across a restart and holds for
/// INSERT, UPDATE and COPY (23505 with PostgreSQL's DETAIL, nothing
/// written); of sessions racing to insert the same value, exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_constraints_hold_for_every_write_and_survive_a_restart() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE, nick text);
             INSERT INTO users (email, nick) VALUES ('ann@x', 'ann'), (NULL, 'anon');",
        )
        .await
        .unwrap();
    let brook = brook.restart();
    let client = brook.client().await;
    assert_eq!(
        refused_with_detail(
            &client,
            "INSERT INTO users (email) VALUES ('bob@x'), ('ann@x')"
        )
        .await,
        (
            "23505".to_string(),
            "duplicate key value violates unique constraint \"users_email_key\"".to_string(),
            Some("Key (email)=(ann@x) already exists.".to_string())
        )
    );
    let (code, _) = refused(
        &client,
        "UPDATE users SET email = 'ann@x' WHERE nick = 'anon'",
    )
    .await;
    assert_eq!(code, "23505");
    // COPY goes through the same check, within the data and against the table.
    for data in [&b"10\tcat@x\tc\n11\tcat@x\td\n"[..], b"12\tann@x\te\n"] {
        let sink = client.copy_in("COPY users FROM STDIN").await.unwrap();
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::copy_from_slice(data))
            .await
            .unwrap();
        let err = sink.finish().await.unwrap_err();
        assert_eq!(sqlstate(&err), "23505", "{}", message(&err));
    }
    assert_eq!(
        rows(&client, "SELECT email, nick FROM users ORDER BY nick").await,
        ["ann@x|ann", "|anon"]
    );
    // Eight sessions insert the same new address at once: one row lands.
    let mut racers = Vec::new();
    for n in 0..8 {
        let client = brook.client().await;
        racers.push(tokio::spawn(async move {
            client
                .simple_query(&format!(
                    "INSERT INTO users (email, nick) VALUES ('race@x', 'r{n}')"
                ))
                .await
                .map(|_| ())
                .map_err(|e| sqlstate(&e))
        }));
    }
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => won += 1,
            Err(code) => assert!(code == "23505" || code == "40001", "{code}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        rows(&client, "SELECT count(*) FROM users WHERE email = 'race@x'").await,
        ["1"]
    );
}

/// A CHECK constraint is kept with the table, across a restart, and holds for
/// every way rows arrive: a violating INSERT, UPDATE or COPY is 23514 with
/// PostgreSQL's DETAIL and writes nothing; in a transaction the block fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_constraints_hold_for_every_write_and_survive_a_restart() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE stock (sku text, qty int CHECK (qty >= 0), \
             CONSTRAINT sku_shape CHECK (length(sku) = 4));
             INSERT INTO stock VALUES ('ab12', 3), ('cd34', NULL);",
        )
        .await
        .unwrap();
    let brook = brook.restart();
    let client = brook.client().await;
    assert_eq!(
        refused_with_detail(
            &client,
            "INSERT INTO stock VALUES ('ef56', 1), ('gh78', -1)"
        )
        .await,
        (
            "23514".to_string(),
            "new row for relation \"stock\" violates check constraint \"stock_qty_check\""
                .to_string(),
            Some("Failing row contains (gh78, -1).".to_string())
        )
    );
    let (code, text) = refused(&client, "UPDATE stock SET sku = 'toolong' WHERE qty = 3").await;
    assert_eq!(
        (code.as_str(), text.as_str()),
        (
            "23514",
            "new row for relation \"stock\" violates check constraint \"sku_shape\""
        )
    );
    // COPY goes through the same check.
    let sink = client.copy_in("COPY stock FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"ij90\t5\nkl12\t-7\n"))
        .await
        .unwrap();
    let err = sink.finish().await.unwrap_err();
    assert_eq!(sqlstate(&err), "23514", "{}", message(&err));
    // In a transaction the failed statement fails the block; nothing lands.
    client
        .batch_execute("BEGIN; INSERT INTO stock VALUES ('mn34', 2)")
        .await
        .unwrap();
    let (code, _) = refused(&client, "INSERT INTO stock VALUES ('op56', -2)").await;
    assert_eq!(code, "23514");
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        rows(&client, "SELECT sku, qty FROM stock ORDER BY sku").await,
        ["ab12|3", "cd34|"]
    );
}

/// A value's bytes as sent, whatever its type (binary results).
struct Raw(Vec<u8>);

impl<'a> tokio_postgres::types::FromSql<'a> for Raw {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

/// uuid, json and jsonb columns were stored as whatever text came (`nope`
/// in a uuid column), described as `text`, and jsonb kept its spelling;
/// varchar was described as `text`. Now each is checked and normalised as
/// PostgreSQL's input function does, and described and sent — in binary
/// too — as its type, through joins, unions and casts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uuid_json_jsonb_and_varchar_are_their_types_on_the_wire() {
    use tokio_postgres::types::Type;
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE docs (id int, name varchar(8), u uuid, j jsonb, raw json);
             INSERT INTO docs VALUES (1, 'ada', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
               '{\"b\": 1, \"a\": [1.50, 1e2], \"b\": 2}', '{\"b\":1,  \"b\":2}')",
        )
        .await
        .unwrap();
    for (sql, code, text) in [
        (
            "INSERT INTO docs (u) VALUES ('nope')",
            "22P02",
            "invalid input syntax for type uuid: \"nope\"",
        ),
        (
            "INSERT INTO docs (j) VALUES ('{nope')",
            "22P02",
            "invalid input syntax for type json",
        ),
        (
            "UPDATE docs SET raw = '[1,' WHERE id = 1",
            "22P02",
            "invalid input syntax for type json",
        ),
        (
            "SELECT 'a0eebc99'::uuid",
            "22P02",
            "invalid input syntax for type uuid",
        ),
    ] {
        let e = client.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&e), code, "{sql}: {e}");
        assert!(message(&e).contains(text), "{sql}: {e}");
    }
    assert_eq!(count(&client, "SELECT count(*) FROM docs").await, 1);

    let statement = client
        .prepare(
            "SELECT d.name, d.u, d.j, d.raw, d.name || '', e.u FROM docs d JOIN docs e ON d.id = e.id",
        )
        .await
        .unwrap();
    let types: Vec<Type> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(
        types,
        [
            Type::VARCHAR,
            Type::UUID,
            Type::JSONB,
            Type::JSON,
            Type::TEXT,
            Type::UUID
        ]
    );
    let row = client.query_one(&statement, &[]).await.unwrap();
    let uuid = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];
    assert_eq!(row.get::<_, Raw>(0).0, b"ada");
    assert_eq!(row.get::<_, Raw>(1).0, uuid);
    // jsonb's binary form: version 1, then the normalised text.
    assert_eq!(
        row.get::<_, Raw>(2).0,
        b"\x01{\"a\": [1.50, 100], \"b\": 2}"
    );
    assert_eq!(row.get::<_, Raw>(3).0, b"{\"b\":1,  \"b\":2}");
    assert_eq!(row.get::<_, Raw>(5).0, uuid);

    // Casts and a UNION with an untyped literal keep the type; text shows
    // the normalised values.
    let statement = client
        .prepare(
            "SELECT 'abcdef'::varchar(3), '{\"b\":1,\"a\":2}'::jsonb::text, \
             'A0EEBC999C0B4EF8BB6D6BB9BD380A11'::uuid::text \
             UNION ALL SELECT name, 'x', 'y' FROM docs",
        )
        .await
        .unwrap();
    assert_eq!(statement.columns()[0].type_(), &Type::VARCHAR);
    let mut rows: Vec<(String, String, String)> = client
        .query(&statement, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            (
                "abc".to_string(),
                "{\"a\": 2, \"b\": 1}".to_string(),
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".to_string()
            ),
            ("ada".to_string(), "x".to_string(), "y".to_string()),
        ]
    );
}

/// PostgreSQL answers a select list that names two columns alike with
/// both columns so named (`SELECT a, a`, `SELECT 41 AS c, min(a) AS c`,
/// `SELECT count(a), count(b)`); Brook refused the first two with
/// "Projections require unique expression names" and named the third's
/// second column `count_1`. Both protocols, and a derived table's `*`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_named_alike_come_back_named_alike() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE pairs (a int, b int); INSERT INTO pairs VALUES (3, 4), (5, 6)")
        .await
        .unwrap();
    for (sql, names, first_row) in [
        (
            "SELECT a, a FROM pairs ORDER BY a",
            vec!["a", "a"],
            vec!["3", "3"],
        ),
        (
            "SELECT 41 AS c, min(a) AS c FROM pairs",
            vec!["c", "c"],
            vec!["41", "3"],
        ),
        (
            "SELECT count(a), count(b), sum(a) AS count FROM pairs",
            vec!["count", "count", "count"],
            vec!["2", "2", "8"],
        ),
        (
            "SELECT * FROM (SELECT b AS x, a AS x FROM pairs) s ORDER BY 1",
            vec!["x", "x"],
            vec!["4", "3"],
        ),
        (
            "SELECT a, a FROM pairs WHERE a = 5 UNION ALL SELECT b, b FROM pairs WHERE b = 4 ORDER BY 1",
            vec!["a", "a"],
            vec!["4", "4"],
        ),
    ] {
        let statement = client.prepare(sql).await.expect(sql);
        let described: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
        assert_eq!(described, names, "{sql}");
        let rows = client.query(&statement, &[]).await.expect(sql);
        assert_eq!(rows[0].columns().len(), names.len(), "{sql}");
        let messages = client.simple_query(sql).await.expect(sql);
        let row = messages
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(row),
                _ => None,
            })
            .expect(sql);
        let simple_names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
        assert_eq!(simple_names, names, "{sql}");
        let values: Vec<&str> = (0..names.len())
            .map(|i| row.get(i).unwrap_or("NULL"))
            .collect();
        assert_eq!(values, first_row, "{sql}");
    }
    // PostgreSQL: ORDER BY "c" is ambiguous. An error, never the first.
    let e = client
        .simple_query("SELECT 1 AS c, a AS c FROM pairs ORDER BY c")
        .await
        .expect_err("ambiguous ORDER BY");
    assert!(!sqlstate(&e).is_empty(), "{e}");
}
