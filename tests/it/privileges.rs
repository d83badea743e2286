//! Least privilege (issue #21), as users meet it over the wire.
//!
//! The privilege matrix: for every kind of object and every operation on
//! it, four roles try it — the object's owner, a role granted exactly what
//! the operation needs (or everything, for what only an owner may do), a
//! role granted nothing, and a superuser. Each either succeeds or gets
//! 42501 with PostgreSQL's message, `has_table_privilege` agrees, and a
//! refused statement changes nothing.

use tokio_postgres::Client;

use crate::security::{PASSWORD, config_with_user};
use crate::support::{Brook, count, message, sqlstate};

async fn login(brook: &Brook, user: &str, password: &str) -> Client {
    let url = format!(
        "host=127.0.0.1 port={} user={user} password='{password}' dbname=brook",
        brook.port()
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{user} logs in: {e}"));
    tokio::spawn(connection);
    client
}

/// Who tries an operation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Subject {
    Owner,
    Granted,
    Stranger,
    Superuser,
}

const SUBJECTS: [Subject; 4] = [
    Subject::Owner,
    Subject::Granted,
    Subject::Stranger,
    Subject::Superuser,
];

/// One operation on one kind of object.
struct Case {
    /// What the statement does, for the failure message.
    what: &'static str,
    /// The statement; `{t}` is the case's table, `{v}` its view, `{s}` its
    /// schema, `{m}` its model.
    sql: &'static str,
    /// What the owner grants the granted role; `None`: only an owner may
    /// do it, and the granted role holds every privilege yet is refused.
    grant: Option<&'static str>,
    /// The 42501 message, with the same placeholders.
    denied: &'static str,
    /// `has_table_privilege(role, {t}, …)` must answer what the statement
    /// does.
    table_privilege: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        what: "read a table",
        sql: "SELECT count(*) FROM {t}",
        grant: Some("GRANT SELECT ON {t} TO granted"),
        denied: "permission denied for table {tn}",
        table_privilege: Some("SELECT"),
    },
    Case {
        what: "insert",
        sql: "INSERT INTO {t} VALUES (9, 'nine')",
        grant: Some("GRANT INSERT ON {t} TO granted"),
        denied: "permission denied for table {tn}",
        table_privilege: Some("INSERT"),
    },
    Case {
        what: "update every row (reads nothing)",
        sql: "UPDATE {t} SET v = 'changed'",
        grant: Some("GRANT UPDATE ON {t} TO granted"),
        denied: "permission denied for table {tn}",
        table_privilege: Some("UPDATE"),
    },
    Case {
        what: "update with a WHERE (reads the table)",
        sql: "UPDATE {t} SET v = 'changed' WHERE id = 1",
        grant: Some("GRANT UPDATE, SELECT ON {t} TO granted"),
        denied: "permission denied for table {tn}",
        table_privilege: None,
    },
    Case {
        what: "delete",
        sql: "DELETE FROM {t}",
        grant: Some("GRANT DELETE ON {t} TO granted"),
        denied: "permission denied for table {tn}",
        table_privilege: Some("DELETE"),
    },
    Case {
        what: "truncate",
        sql: "TRUNCATE {t}",
        grant: Some("GRANT TRUNCATE ON {t} TO granted"),
        denied: "permission denied for table {tn}",
        table_privilege: Some("TRUNCATE"),
    },
    Case {
        what: "copy a query's rows out",
        sql: "CREATE TABLE {s}.copied AS SELECT * FROM {t}",
        grant: Some("GRANT SELECT ON {t} TO granted; GRANT CREATE ON SCHEMA {s} TO granted"),
        // Making the table is refused first (the query's read is refused
        // on its own below, in `grants_are_listed_…`).
        denied: "permission denied for schema {s}",
        table_privilege: None,
    },
    Case {
        what: "drop a table",
        sql: "DROP TABLE {t}",
        grant: None,
        denied: "must be owner of table {tn}",
        table_privilege: None,
    },
    Case {
        what: "alter a table",
        sql: "ALTER TABLE {t} ADD COLUMN extra int",
        grant: None,
        denied: "must be owner of table {tn}",
        table_privilege: None,
    },
    Case {
        what: "comment on a table",
        sql: "COMMENT ON TABLE {t} IS 'mine now'",
        grant: None,
        denied: "must be owner of table {tn}",
        table_privilege: None,
    },
    Case {
        what: "index a table",
        sql: "CREATE INDEX ON {t} (id)",
        grant: None,
        denied: "must be owner of table {tn}",
        table_privilege: None,
    },
    Case {
        what: "drop an index",
        sql: "DROP INDEX {s}.{tn}_by_id",
        grant: None,
        denied: "must be owner of index {tn}_by_id",
        table_privilege: None,
    },
    Case {
        what: "drop a sequence",
        sql: "DROP SEQUENCE {s}.{tn}_seq",
        grant: None,
        denied: "must be owner of sequence {tn}_seq",
        table_privilege: None,
    },
    Case {
        what: "alter a serial column's sequence (its table owner's)",
        sql: "ALTER SEQUENCE {s}.{tn}_n_n_seq RESTART WITH 100",
        grant: None,
        denied: "must be owner of sequence {tn}_n_n_seq",
        table_privilege: None,
    },
    Case {
        what: "read a view (its table read with the view owner's rights)",
        sql: "SELECT count(*) FROM {v}",
        grant: Some("GRANT SELECT ON {v} TO granted"),
        denied: "permission denied for view {vn}",
        table_privilege: None,
    },
    Case {
        what: "drop a view",
        sql: "DROP VIEW {v}",
        grant: None,
        denied: "must be owner of view {vn}",
        table_privilege: None,
    },
    Case {
        what: "create a table in a schema",
        sql: "CREATE TABLE {s}.made (a int)",
        grant: Some("GRANT CREATE ON SCHEMA {s} TO granted"),
        denied: "permission denied for schema {s}",
        table_privilege: None,
    },
    Case {
        what: "drop a schema with everything in it",
        sql: "DROP SCHEMA {s} CASCADE",
        grant: None,
        denied: "must be owner of schema {s}",
        table_privilege: None,
    },
    Case {
        what: "predict with a model",
        sql: "SELECT PREDICT('{m}', 2.0)",
        grant: Some("GRANT USAGE ON MODEL {m} TO granted"),
        denied: "permission denied for model {m}",
        table_privilege: None,
    },
    Case {
        what: "make a model",
        sql: "CREATE MODEL {m}_more OPTIONS (model_type = 'linear_reg', \
              input_label_cols = ['y'], data_split_method = 'no_split') \
              AS SELECT x, y FROM {s}.points",
        grant: Some("GRANT CREATE MODEL TO granted; GRANT SELECT ON {s}.points TO granted"),
        denied: "permission denied to create model",
        table_privilege: None,
    },
    Case {
        what: "drop a model",
        sql: "DROP MODEL {m}",
        grant: None,
        denied: "must be owner of model {m}",
        table_privilege: None,
    },
];

/// The names one (case, subject) works on, made fresh for it.
struct Names {
    schema: String,
    table: String,
    view: String,
    model: String,
}

impl Names {
    fn new(case: usize, subject: Subject) -> Self {
        let tag = format!("c{case}_{}", format!("{subject:?}").to_lowercase());
        Self {
            schema: format!("s_{tag}"),
            table: format!("t_{tag}"),
            view: format!("v_{tag}"),
            model: format!("m_{tag}"),
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{t}", &format!("{}.{}", self.schema, self.table))
            .replace("{tn}", &self.table)
            .replace("{v}", &format!("{}.{}", self.schema, self.view))
            .replace("{vn}", &self.view)
            .replace("{s}", &self.schema)
            .replace("{m}", &self.model)
    }
}

/// What a refused statement must leave as it was: the schema's relations,
/// the table's rows, the models.
async fn fingerprint(admin: &Client, names: &Names) -> Vec<String> {
    let mut seen = vec![];
    let relations = admin
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 ORDER BY 1",
            &[&names.schema],
        )
        .await
        .unwrap();
    seen.extend(relations.iter().map(|r| r.get::<_, String>(0)));
    if let Ok(rows) = admin
        .query(
            &names.fill("SELECT id::text || '=' || v FROM {t} ORDER BY id"),
            &[],
        )
        .await
    {
        seen.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    let models = admin
        .query(
            "SELECT model_name FROM information_schema.models ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    seen.extend(
        models
            .iter()
            .map(|r| format!("model {}", r.get::<_, String>(0))),
    );
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_succeeds_for_owner_grantee_and_superuser_and_is_refused_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let admin = login(&brook, "analyst", PASSWORD).await;
    admin
        .batch_execute(
            "CREATE USER owner PASSWORD 'owner pw'; \
             CREATE USER granted PASSWORD 'granted pw'; \
             CREATE USER stranger PASSWORD 'stranger pw'; \
             GRANT CREATE ON DATABASE brook TO owner; \
             GRANT CREATE MODEL TO owner WITH GRANT OPTION",
        )
        .await
        .unwrap();
    let owner = login(&brook, "owner", "owner pw").await;
    let granted = login(&brook, "granted", "granted pw").await;
    let stranger = login(&brook, "stranger", "stranger pw").await;

    let mut checked = 0;
    for (i, case) in CASES.iter().enumerate() {
        for subject in SUBJECTS {
            let names = Names::new(i, subject);
            // The owner makes everything, lets both others into the schema
            // (so that a refusal is about the object itself), and grants.
            let setup = names.fill(
                "CREATE SCHEMA {s}; \
                 CREATE TABLE {t} (id int, v text); \
                 INSERT INTO {t} VALUES (1, 'one'), (2, 'two'); \
                 CREATE INDEX {tn}_by_id ON {t} (v); \
                 CREATE TABLE {s}.{tn}_n (n serial, note text); \
                 CREATE SEQUENCE {s}.{tn}_seq; \
                 CREATE VIEW {v} AS SELECT id FROM {t}; \
                 CREATE TABLE {s}.points (x double precision, y double precision); \
                 INSERT INTO {s}.points VALUES (1, 2), (2, 4), (3, 6); \
                 GRANT USAGE ON SCHEMA {s} TO granted, stranger",
            );
            owner.batch_execute(&setup).await.unwrap();
            if case.sql.contains("{m}") {
                owner
                    .batch_execute(&names.fill(
                        "CREATE MODEL {m} OPTIONS (model_type = 'linear_reg', \
                         input_label_cols = ['y'], data_split_method = 'no_split') \
                         AS SELECT x, y FROM {s}.points",
                    ))
                    .await
                    .unwrap();
            }
            let grants = match case.grant {
                Some(grant) => names.fill(grant),
                // Everything there is to grant, and it is still not enough.
                None => names.fill(
                    "GRANT ALL ON {t} TO granted; GRANT ALL ON {v} TO granted; \
                     GRANT ALL ON SCHEMA {s} TO granted",
                ),
            };
            owner.batch_execute(&grants).await.unwrap();
            if case.grant.is_none() && case.sql.contains("{m}") {
                owner
                    .batch_execute(&names.fill("GRANT ALL ON MODEL {m} TO granted"))
                    .await
                    .unwrap();
            }

            let client = match subject {
                Subject::Owner => &owner,
                Subject::Granted => &granted,
                Subject::Stranger => &stranger,
                Subject::Superuser => &admin,
            };
            let allowed = match subject {
                Subject::Owner | Subject::Superuser => true,
                Subject::Granted => case.grant.is_some(),
                Subject::Stranger => false,
            };
            if let Some(privilege) = case.table_privilege {
                let role = match subject {
                    Subject::Owner => "owner",
                    Subject::Granted => "granted",
                    Subject::Stranger => "stranger",
                    Subject::Superuser => "analyst",
                };
                let answer: bool = admin
                    .query_one(
                        "SELECT has_table_privilege($1, $2, $3)",
                        &[&role, &names.fill("{t}"), &privilege],
                    )
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(
                    answer, allowed,
                    "has_table_privilege for {subject:?}: {}",
                    case.what
                );
            }
            let before = fingerprint(&admin, &names).await;
            let sql = names.fill(case.sql);
            let result = client.batch_execute(&sql).await;
            match (allowed, result) {
                (true, Ok(())) => {}
                (true, Err(e)) => panic!("{subject:?} may {}: {sql}: {}", case.what, message(&e)),
                (false, Ok(())) => panic!("{subject:?} may not {}, yet did: {sql}", case.what),
                (false, Err(e)) => {
                    assert_eq!(sqlstate(&e), "42501", "{subject:?}, {sql}: {}", message(&e));
                    assert_eq!(message(&e), names.fill(case.denied), "{subject:?}, {sql}");
                    assert_eq!(
                        fingerprint(&admin, &names).await,
                        before,
                        "a refused statement changed something: {sql}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, CASES.len() * SUBJECTS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_listed_revoked_and_outlived_by_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let admin = login(&brook, "analyst", PASSWORD).await;
    admin
        .batch_execute(
            "CREATE USER alice PASSWORD 'a'; CREATE USER bob PASSWORD 'b'; \
             CREATE ROLE readers; GRANT readers TO bob; \
             GRANT CREATE ON SCHEMA public TO alice",
        )
        .await
        .unwrap();
    let alice = login(&brook, "alice", "a").await;
    let bob = login(&brook, "bob", "b").await;
    alice
        .batch_execute(
            "CREATE TABLE facts (id int); INSERT INTO facts VALUES (1); \
             GRANT SELECT ON facts TO readers",
        )
        .await
        .unwrap();

    // A member of a granted role holds what the role holds.
    let n: i64 = bob
        .query_one("SELECT count(*) FROM facts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    // psql's \dp reads relacl; information_schema lists each privilege.
    let acl: String = admin
        .query_one(
            "SELECT array_to_string(relacl, ',') FROM pg_class WHERE relname = 'facts'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(acl, "alice=arwdDxt/alice,readers=r/alice");
    let listed: Vec<(String, String, String)> = admin
        .query(
            "SELECT grantee, privilege_type, is_grantable FROM information_schema.table_privileges \
             WHERE table_name = 'facts' AND grantee = 'readers'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        listed,
        vec![("readers".into(), "SELECT".into(), "NO".into())]
    );
    let owner: String = admin
        .query_one(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'facts'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "alice");

    // A grant rolled back was never made.
    alice
        .batch_execute("BEGIN; GRANT INSERT ON facts TO bob; ROLLBACK")
        .await
        .unwrap();
    let e = bob
        .batch_execute("INSERT INTO facts VALUES (2)")
        .await
        .unwrap_err();
    assert_eq!(message(&e), "permission denied for table facts");

    // Bob cannot pass on what he was not given the right to pass on.
    let e = bob.batch_execute("GRANT SELECT ON facts TO alice").await;
    assert!(
        e.is_ok(),
        "a grant without grant option warns, as in PostgreSQL"
    );
    let port = brook.port().to_string();
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "bob",
            "-d",
            "brook",
            "-X",
        ])
        .args(["-c", "GRANT SELECT ON facts TO alice"])
        .env("PGPASSWORD", "b")
        .output()
        .expect("psql runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARNING:  no privileges were granted for \"facts\""),
        "{stderr}"
    );

    // A table made from a query needs the query's rights too.
    admin
        .batch_execute("GRANT CREATE ON SCHEMA public TO bob")
        .await
        .unwrap();
    alice
        .batch_execute("CREATE TABLE private (secret text)")
        .await
        .unwrap();
    let e = bob
        .batch_execute("CREATE TABLE stolen AS SELECT * FROM private")
        .await
        .unwrap_err();
    assert_eq!(message(&e), "permission denied for table private");
    let e = bob
        .batch_execute("COPY (SELECT * FROM private) TO STDOUT")
        .await
        .unwrap_err();
    assert_eq!(message(&e), "permission denied for table private");
    alice.batch_execute("DROP TABLE private").await.unwrap();

    // Revoked, it is gone.
    alice
        .batch_execute("REVOKE SELECT ON facts FROM readers")
        .await
        .unwrap();
    let e = bob
        .query_one("SELECT count(*) FROM facts", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501");

    // A role that owns something cannot be dropped; its objects say why.
    let e = admin.batch_execute("DROP ROLE alice").await.unwrap_err();
    assert_eq!(sqlstate(&e), "2BP01");
    assert_eq!(
        message(&e),
        "role \"alice\" cannot be dropped because some objects depend on it"
    );
    let detail = e
        .as_db_error()
        .and_then(|d| d.detail())
        .unwrap_or_default()
        .to_string();
    assert!(detail.contains("owner of table facts"), "{detail}");

    // Ownership passes with ALTER … OWNER TO, and then the role can go.
    admin
        .batch_execute("ALTER TABLE facts OWNER TO bob; REVOKE CREATE ON SCHEMA public FROM alice")
        .await
        .unwrap();
    let e = alice.batch_execute("DROP TABLE facts").await.unwrap_err();
    assert_eq!(message(&e), "must be owner of table facts");
    bob.batch_execute("INSERT INTO facts VALUES (3)")
        .await
        .unwrap();
    drop(alice);
    admin.batch_execute("DROP ROLE alice").await.unwrap();
    let acl: String = admin
        .query_one(
            "SELECT array_to_string(relacl, ',') FROM pg_class WHERE relname = 'facts'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(acl, "bob=arwdDxt/bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_belong_to_their_owner_and_write_with_its_rights() {
    let kafka = crate::kafka::Tansu::start();
    kafka.create_topic("events", 1).await;
    kafka
        .produce(
            "events",
            (0..5)
                .map(|i| (0, crate::pipelines::json(serde_json::json!({ "id": i }))))
                .chain([(0, b"not json: a customer's secret".to_vec())]),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let admin = login(&brook, "analyst", PASSWORD).await;
    admin
        .batch_execute(
            "CREATE USER owner PASSWORD 'o'; CREATE USER stranger PASSWORD 's'; \
             CREATE USER helper PASSWORD 'h'; GRANT owner TO helper; \
             GRANT CREATE ON SCHEMA public TO owner, stranger; \
             CREATE TABLE admins_table (id bigint); GRANT INSERT ON admins_table TO owner",
        )
        .await
        .unwrap();
    let owner = login(&brook, "owner", "o").await;
    let stranger = login(&brook, "stranger", "s").await;
    let helper = login(&brook, "helper", "h").await;
    let create = |name: &str, table: &str| {
        format!(
            "CREATE PIPELINE {name} AS LOAD DATA KAFKA '{}/events' SKIP PARSER ERRORS \
             INTO TABLE {table} FORMAT JSON",
            kafka.brokers()
        )
    };
    owner
        .batch_execute("CREATE TABLE ev (id bigint)")
        .await
        .unwrap();
    owner.batch_execute(&create("p", "ev")).await.unwrap();
    owner
        .batch_execute(&create("r", "admins_table"))
        .await
        .unwrap();

    // Another role can neither run, change nor see the owner's pipeline.
    for sql in [
        "START PIPELINE p",
        "STOP PIPELINE p",
        "ALTER PIPELINE p SET OFFSETS EARLIEST",
        "TEST PIPELINE p LIMIT 1",
        "DROP PIPELINE p",
    ] {
        let e = stranger.batch_execute(sql).await.unwrap_err();
        assert_eq!(sqlstate(&e), "42501", "{sql}");
        assert_eq!(message(&e), "must be owner of pipeline p", "{sql}");
    }
    let seen = stranger
        .query(
            "SELECT pipeline_name FROM information_schema.pipelines",
            &[],
        )
        .await
        .unwrap();
    assert!(seen.is_empty(), "a stranger sees another role's pipelines");
    let shown = stranger.simple_query("SHOW PIPELINES").await.unwrap();
    assert!(
        !shown
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))),
        "SHOW PIPELINES lists another role's pipelines"
    );
    // Nor point a pipeline of its own at a table it may not write.
    let e = stranger
        .batch_execute(&create("q", "ev"))
        .await
        .unwrap_err();
    assert_eq!(message(&e), "permission denied for table ev");

    // The owner, and a member of the owning role, may.
    let loaded = owner
        .execute("START PIPELINE p FOREGROUND", &[])
        .await
        .unwrap_or_else(|e| panic!("{}", message(&e)));
    assert_eq!(loaded, 5);
    helper.batch_execute("STOP PIPELINE p").await.unwrap();

    // The message it set aside is the owner's to read, not a stranger's.
    let set_aside = "SELECT count(*) FROM information_schema.pipelines_errors";
    for (client, expected) in [(&owner, 1), (&helper, 1), (&stranger, 0), (&admin, 1)] {
        let seen: i64 = client.query_one(set_aside, &[]).await.unwrap().get(0);
        assert_eq!(seen, expected);
    }
    let listed: i64 = owner
        .query_one("SELECT count(*) FROM information_schema.pipelines", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(listed, 2);

    // A pipeline writes with its owner's rights, checked again at START.
    admin
        .batch_execute("REVOKE INSERT ON admins_table FROM owner")
        .await
        .unwrap();
    let e = owner.batch_execute("START PIPELINE r").await.unwrap_err();
    assert_eq!(message(&e), "permission denied for table admins_table");

    // Its owner cannot be dropped while it stands.
    let e = admin.batch_execute("DROP ROLE owner").await.unwrap_err();
    assert_eq!(sqlstate(&e), "2BP01");
    let detail = e
        .as_db_error()
        .and_then(|d| d.detail())
        .unwrap_or_default()
        .to_string();
    assert!(detail.contains("owner of pipeline p"), "{detail}");
    assert!(detail.contains("owner of table ev"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_role_takes_on_a_role_the_login_is_a_member_of() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let admin = login(&brook, "analyst", PASSWORD).await;
    admin
        .batch_execute(
            "CREATE ROLE writers NOINHERIT; CREATE USER ana PASSWORD 'a' NOINHERIT; \
             GRANT writers TO ana; CREATE USER other PASSWORD 'x'; \
             CREATE TABLE log (line text); GRANT INSERT ON log TO writers",
        )
        .await
        .unwrap();
    let ana = login(&brook, "ana", "a").await;
    // NOINHERIT: the membership's privileges come with SET ROLE only.
    let e = ana
        .batch_execute("INSERT INTO log VALUES ('a')")
        .await
        .unwrap_err();
    assert_eq!(message(&e), "permission denied for table log");
    ana.batch_execute("SET ROLE writers").await.unwrap();
    let who: (String, String) = ana
        .query_one("SELECT current_user, session_user", &[])
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(who, ("writers".to_string(), "ana".to_string()));
    ana.batch_execute("INSERT INTO log VALUES ('as writers')")
        .await
        .unwrap();
    ana.batch_execute("RESET ROLE").await.unwrap();
    let e = ana
        .batch_execute("INSERT INTO log VALUES ('b')")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    let setting: (String, String) = ana
        .query_one(
            "SELECT current_setting('role'), current_setting('is_superuser')",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(setting, ("none".to_string(), "off".to_string()));

    // A role the login is not a member of, or none at all.
    let e = ana.batch_execute("SET ROLE other").await.unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    assert_eq!(message(&e), "permission denied to set role \"other\"");
    let e = ana.batch_execute("SET ROLE nobody").await.unwrap_err();
    assert_eq!(message(&e), "role \"nobody\" does not exist");
    // A SET ROLE rolled back is undone.
    ana.batch_execute("BEGIN; SET ROLE writers; ROLLBACK")
        .await
        .unwrap();
    let me: String = ana
        .query_one("SELECT current_user", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(me, "ana");
    // A superuser that sets a plain role gives up its powers.
    admin.batch_execute("SET ROLE other").await.unwrap();
    let e = admin.batch_execute("SELECT * FROM log").await.unwrap_err();
    assert_eq!(message(&e), "permission denied for table log");
}

/// The rows `client` reads of `sql`'s first two columns (id, tenant).
async fn tenants(client: &Client, sql: &str) -> Vec<(i32, String)> {
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_gives_each_tenant_only_its_rows_of_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let admin = login(&brook, "analyst", PASSWORD).await;
    admin
        .batch_execute(
            "CREATE USER ana PASSWORD 'a'; CREATE USER bob PASSWORD 'b'; \
             CREATE USER keeper PASSWORD 'k'; GRANT CREATE ON SCHEMA public TO keeper",
        )
        .await
        .unwrap();
    // One results table for every tenant, as one pipeline would fill it.
    let keeper = login(&brook, "keeper", "k").await;
    keeper
        .batch_execute(
            "CREATE TABLE results (id int, tenant text, score double precision); \
             INSERT INTO results VALUES (1, 'ana', 0.9), (2, 'bob', 0.8), (3, 'ana', 0.1), (4, 'bob', 0.2); \
             GRANT SELECT, INSERT, UPDATE, DELETE ON results TO ana, bob; \
             ALTER TABLE results ENABLE ROW LEVEL SECURITY; \
             CREATE POLICY tenant_rows ON results USING (tenant = current_user); \
             CREATE VIEW likely AS SELECT id, tenant FROM results WHERE score > 0.5; \
             GRANT SELECT ON likely TO ana, bob",
        )
        .await
        .unwrap();
    let ana = login(&brook, "ana", "a").await;
    let bob = login(&brook, "bob", "b").await;
    let all = "SELECT id, tenant FROM results ORDER BY id";
    assert_eq!(
        tenants(&ana, all).await,
        vec![(1, "ana".into()), (3, "ana".into())]
    );
    assert_eq!(
        tenants(&bob, all).await,
        vec![(2, "bob".into()), (4, "bob".into())]
    );
    // COPY … TO STDOUT reads through the same policies.
    let copied: Vec<u8> = {
        use futures::TryStreamExt;
        let stream = ana
            .copy_out("COPY (SELECT id, tenant FROM results ORDER BY id) TO STDOUT")
            .await
            .unwrap();
        let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
        chunks.concat()
    };
    assert_eq!(String::from_utf8(copied).unwrap(), "1\tana\n3\tana\n");
    // The owner is not held to its policies (no FORCE); a superuser never.
    assert_eq!(tenants(&keeper, all).await.len(), 4);
    assert_eq!(tenants(&admin, all).await.len(), 4);

    // Writes: a tenant changes and removes only its own rows, and cannot
    // write a row in another tenant's name (USING serves as WITH CHECK).
    let e = ana
        .batch_execute("INSERT INTO results VALUES (5, 'bob', 1.0)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    assert_eq!(
        message(&e),
        "new row violates row-level security policy for table \"results\""
    );
    let changed = ana
        .execute("UPDATE results SET score = 0.5", &[])
        .await
        .unwrap();
    assert_eq!(changed, 2);
    let e = ana
        .batch_execute("UPDATE results SET tenant = 'bob' WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    let removed = bob.execute("DELETE FROM results", &[]).await.unwrap();
    assert_eq!(removed, 2);
    let rows: Vec<(i32, String, f64)> = admin
        .query("SELECT id, tenant, score FROM results ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        vec![(1, "ana".into(), 0.5), (3, "ana".into(), 0.5)],
        "bob removed its own rows only, ana changed its own only"
    );
    admin
        .batch_execute("INSERT INTO results VALUES (2, 'bob', 0.8), (4, 'bob', 0.2)")
        .await
        .unwrap();

    // A view reads its tables with its owner's rights, as in PostgreSQL:
    // the owner is not held, so the view shows every tenant's rows.
    assert_eq!(
        tenants(&ana, "SELECT * FROM likely ORDER BY id")
            .await
            .len(),
        1
    );
    keeper
        .batch_execute("ALTER TABLE results FORCE ROW LEVEL SECURITY")
        .await
        .unwrap();
    // Forced, the owner is held too; current_user is still the reader.
    assert_eq!(
        tenants(&bob, "SELECT * FROM likely ORDER BY id").await,
        vec![(2, "bob".into())]
    );
    assert!(tenants(&keeper, all).await.is_empty());

    // What cannot yet apply the policies row by row is refused.
    let e = ana
        .batch_execute("INSERT INTO results VALUES (9, 'ana', 1) ON CONFLICT DO NOTHING")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "0A000");
    let e = ana
        .batch_execute("COPY results FROM STDIN")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "0A000");

    // Only the owner changes the policies.
    let e = ana
        .batch_execute("DROP POLICY tenant_rows ON results")
        .await
        .unwrap_err();
    assert_eq!(message(&e), "must be owner of table results");
    let e = ana
        .batch_execute("ALTER TABLE results DISABLE ROW LEVEL SECURITY")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501");

    // The policies outlive a restart.
    drop((ana, bob, keeper, admin));
    let brook = brook.restart();
    let ana = login(&brook, "ana", "a").await;
    assert_eq!(
        tenants(&ana, all).await,
        vec![(1, "ana".into()), (3, "ana".into())]
    );
    let policies: Vec<(String, String)> = ana
        .query("SELECT policyname, qual FROM pg_policies", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].0, "tenant_rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_files_are_a_privilege_and_stay_inside_the_open_directories() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("exchange");
    std::fs::create_dir_all(&open).unwrap();
    let outside = dir.path().join("secret.csv");
    std::fs::write(&outside, "1,stolen\n").unwrap();
    std::os::unix::fs::symlink(&outside, open.join("link.csv")).unwrap();
    let config = config_with_user(
        dir.path(),
        &format!("server_file_dirs = [\"{}\"]", open.display()),
    );
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let admin = login(&brook, "analyst", PASSWORD).await;
    admin
        .batch_execute(
            "CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, 'a'), (2, 'b,c'); \
             CREATE USER reader PASSWORD 'r'; CREATE USER writer PASSWORD 'w'; \
             CREATE USER plain PASSWORD 'p'; \
             GRANT SELECT, INSERT ON t TO reader, writer, plain; \
             GRANT pg_read_server_files TO reader; GRANT pg_write_server_files TO writer",
        )
        .await
        .unwrap();
    // A superuser writes and reads files there, by relative or full path.
    let written = admin
        .execute("COPY t TO 'rows.csv' WITH (FORMAT csv, HEADER)", &[])
        .await
        .unwrap();
    assert_eq!(written, 2);
    assert_eq!(
        std::fs::read_to_string(open.join("rows.csv")).unwrap(),
        "id,name\n1,a\n2,\"b,c\"\n"
    );
    let full = open.join("rows.csv").display().to_string();
    let loaded = admin
        .execute(
            &format!("COPY t FROM '{full}' WITH (FORMAT csv, HEADER)"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(loaded, 2);
    assert_eq!(count(&admin, "SELECT count(*) FROM t").await, 4);

    // Out of the directory: by path, by `..`, by a symbolic link; and the
    // commands the server would run.
    let refused = [
        format!("COPY t FROM '{}'", outside.display()),
        format!("COPY t FROM '{}/../secret.csv'", open.display()),
        "COPY t FROM 'link.csv'".to_string(),
        "COPY t TO '../escaped.csv'".to_string(),
        "COPY t FROM PROGRAM 'id'".to_string(),
        "COPY t TO PROGRAM 'id'".to_string(),
    ];
    for sql in &refused {
        let e = admin.batch_execute(sql).await.unwrap_err();
        assert_eq!(sqlstate(&e), "42501", "{sql}: {}", message(&e));
    }
    assert!(!dir.path().join("escaped.csv").exists());
    assert_eq!(count(&admin, "SELECT count(*) FROM t").await, 4);
    let e = admin
        .batch_execute("COPY t FROM 'missing.csv'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "58P01", "{}", message(&e));

    // The predefined roles: reading for one, writing for the other.
    let reader = login(&brook, "reader", "r").await;
    reader
        .batch_execute("COPY t FROM 'rows.csv' WITH (FORMAT csv, HEADER)")
        .await
        .unwrap();
    let e = reader
        .batch_execute("COPY t TO 'mine.csv'")
        .await
        .unwrap_err();
    assert_eq!(
        message(&e),
        "must be superuser or have privileges of the pg_write_server_files role to COPY to a file"
    );
    let writer = login(&brook, "writer", "w").await;
    writer.batch_execute("COPY t TO 'mine.csv'").await.unwrap();
    assert!(open.join("mine.csv").exists());
    let plain = login(&brook, "plain", "p").await;
    let e = plain
        .batch_execute("COPY t FROM 'rows.csv' WITH (FORMAT csv, HEADER)")
        .await
        .unwrap_err();
    assert_eq!(
        message(&e),
        "must be superuser or have privileges of the pg_read_server_files role to COPY from a file"
    );
    assert_eq!(count(&admin, "SELECT count(*) FROM t").await, 6);
    // The predefined roles are PostgreSQL's, and stay.
    let oids: Vec<(String, i32)> = admin
        .query(
            "SELECT rolname, oid::int FROM pg_roles WHERE rolname LIKE 'pg\\_%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        oids,
        vec![
            ("pg_read_server_files".to_string(), 4569),
            ("pg_signal_backend".to_string(), 4200),
            ("pg_write_server_files".to_string(), 4570),
        ]
    );
    let e = admin
        .batch_execute("DROP ROLE pg_signal_backend")
        .await
        .unwrap_err();
    assert_eq!(
        message(&e),
        "cannot drop role pg_signal_backend because it is required by the database system"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_signal_backend_cancels_other_roles_queries_but_a_superusers() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let admin = login(&brook, "analyst", PASSWORD).await;
    admin
        .batch_execute(
            "CREATE USER ana PASSWORD 'a'; CREATE USER bob PASSWORD 'b'; \
             CREATE USER ops PASSWORD 'o'; GRANT pg_signal_backend TO ops",
        )
        .await
        .unwrap();
    let ana = login(&brook, "ana", "a").await;
    let bob = login(&brook, "bob", "b").await;
    let ops = login(&brook, "ops", "o").await;
    let pid = |client: Client| async move {
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        (client, pid)
    };
    let (bob, bob_pid) = pid(bob).await;
    let (admin, admin_pid) = pid(admin).await;
    let cancel = |pid: i32| format!("SELECT pg_cancel_backend({pid})");
    // Another role's session: refused to a plain role.
    let e = ana.query_one(&cancel(bob_pid), &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    assert_eq!(message(&e), "permission denied to cancel query");
    // pg_signal_backend may; it reaches no superuser's session.
    let done: bool = ops.query_one(&cancel(bob_pid), &[]).await.unwrap().get(0);
    assert!(done);
    let e = ops.query_one(&cancel(admin_pid), &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    // A role cancels its own sessions; a superuser any.
    let bob2 = login(&brook, "bob", "b").await;
    let done: bool = bob2.query_one(&cancel(bob_pid), &[]).await.unwrap().get(0);
    assert!(done);
    let done: bool = admin.query_one(&cancel(bob_pid), &[]).await.unwrap().get(0);
    assert!(done);
    drop(bob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_carries_its_own_statement_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let admin = login(&brook, "analyst", PASSWORD).await;
    admin
        .batch_execute(
            "CREATE USER ana PASSWORD 'a'; ALTER ROLE ana SET statement_timeout = '150ms'",
        )
        .await
        .unwrap();
    let show = |client: Client| async move {
        let rows = client.simple_query("SHOW statement_timeout").await.unwrap();
        let value = rows
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .unwrap();
        (client, value)
    };
    let (ana, shown) = show(login(&brook, "ana", "a").await).await;
    assert_eq!(shown, "150ms");
    let long = "SELECT count(*) FROM generate_series(1, 20000000000) AS a(v) WHERE v % 7 = 3";
    let e = ana.simple_query(long).await.unwrap_err();
    assert_eq!(sqlstate(&e), "57014", "{}", message(&e));
    // The session may still change it; the role's value is its default.
    ana.batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    ana.batch_execute("RESET statement_timeout").await.unwrap();
    let (ana, shown) = show(ana).await;
    assert_eq!(shown, "150ms");
    // Only a superuser sets it, and only the timeouts.
    let e = ana
        .batch_execute("ALTER ROLE ana SET statement_timeout = 0")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    let e = admin
        .batch_execute("ALTER ROLE ana SET work_mem = '1GB'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "0A000");
    admin
        .batch_execute("ALTER ROLE ana RESET statement_timeout")
        .await
        .unwrap();
    let (_, shown) = show(login(&brook, "ana", "a").await).await;
    assert_eq!(shown, "0");
}

/// One audit record as `information_schema.audit_log` shows it: event,
/// role, session user, class, command, statement, success, SQLSTATE.
type Audited = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    bool,
    Option<String>,
);

async fn audited(client: &Client) -> Vec<Audited> {
    client
        .query(
            "SELECT event, role, login_role, class, command, statement, success, sqlstate, \
             client_addr FROM information_schema.audit_log",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let client: String = r.get(8);
            assert!(client.starts_with("127.0.0.1:"), "{client}");
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_logins_and_changes_with_who_and_whence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs").join("audit.jsonl");
    let config = config_with_user(dir.path(), &format!("audit_log = \"{}\"", path.display()));
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let wrong = format!(
        "host=127.0.0.1 port={} user=analyst password='not-it' dbname=brook",
        brook.port()
    );
    let refused = tokio_postgres::connect(&wrong, tokio_postgres::NoTls).await;
    assert!(refused.is_err());
    let admin = login(&brook, "analyst", PASSWORD).await;
    admin
        .batch_execute(
            "CREATE TABLE t (id int); INSERT INTO t VALUES (1); SELECT * FROM t; \
             CREATE USER bob PASSWORD 'bobs-own-secret'; GRANT SELECT ON t TO bob",
        )
        .await
        .unwrap();
    let bob = login(&brook, "bob", "bobs-own-secret").await;
    let e = bob.batch_execute("DROP TABLE t").await.unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    // Only superusers read it, as only they read pg_authid.
    let e = bob
        .simple_query("SELECT count(*) FROM information_schema.audit_log")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    assert_eq!(message(&e), "permission denied for table audit_log");

    let s = |v: &str| v.to_string();
    let login_of = |role: &str, ok: bool| {
        (
            s("authentication"),
            s(role),
            s(role),
            s("password"),
            s("LOGIN"),
            None,
            ok,
            (!ok).then(|| s("28P01")),
        )
    };
    let change = |role: &str, class: &str, command: &str, sql: &str, state: Option<&str>| {
        (
            s("statement"),
            s(role),
            s(role),
            s(class),
            s(command),
            Some(s(sql)),
            state.is_none(),
            state.map(s),
        )
    };
    // The INSERT and the SELECT are data, not changes to the server: not
    // recorded. The password is hidden.
    let expected = vec![
        login_of("analyst", false),
        login_of("analyst", true),
        change(
            "analyst",
            "ddl",
            "CREATE TABLE",
            "CREATE TABLE t (id INT)",
            None,
        ),
        change(
            "analyst",
            "role",
            "CREATE ROLE",
            "CREATE USER bob PASSWORD '********'",
            None,
        ),
        change(
            "analyst",
            "privilege",
            "GRANT",
            "GRANT SELECT ON t TO bob",
            None,
        ),
        login_of("bob", true),
        change("bob", "ddl", "DROP TABLE", "DROP TABLE t", Some("42501")),
    ];
    assert_eq!(audited(&admin).await, expected);

    // The file is JSON lines, readable by the server's user only, with no
    // secret in it; it outlives a restart.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("bobs-own-secret") && !text.contains("not-it"));
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(record["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop((admin, bob));
    let brook = brook.restart();
    let admin = login(&brook, "analyst", PASSWORD).await;
    let after = audited(&admin).await;
    assert_eq!(after[..expected.len()], expected[..]);
    assert_eq!(after[expected.len()], login_of("analyst", true));
}
