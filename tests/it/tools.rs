//! Tools nobody here wrote, driven as their users drive them, each run
//! against Brook and against a real PostgreSQL 15 in the same test so that
//! a failure is attributable: Alembic migrations, pg_dump and pg_restore.

use std::process::Command;

use crate::postgres::Postgres;
use crate::support::Brook;

/// Run `tests/python/<script>` with `url`; (stdout, stderr, success).
fn run_python(script: &str, url: &str) -> (String, String, bool) {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .args([path.as_str(), url])
        .output()
        .expect("python3 runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn alembic_upgrades_downgrades_and_upgrades_again_as_on_postgresql() {
    let postgres = Postgres::start();
    let oracle = format!(
        "postgresql+psycopg://postgres@127.0.0.1:{}/postgres",
        postgres.port
    );
    let (expected, err, ok) = run_python("alembic_migrations.py", &oracle);
    assert!(ok, "the migrations fail on PostgreSQL itself:\n{err}");

    let brook = Brook::start();
    let url = brook
        .url()
        .replace("postgresql://", "postgresql+psycopg://");
    let (out, err, ok) = run_python("alembic_migrations.py", &url);
    assert!(
        ok,
        "Alembic on Brook (is alembic installed? .ci/run installs it):\n{out}\n{err}\nlog:\n{}",
        brook.log()
    );
    assert_eq!(out, expected);
    assert_eq!(out, "ok upgrade\nok downgrade\nok base\nok again\n");
}

/// Run PostgreSQL 15's `program` (pg_dump, pg_restore) with `args`;
/// (stdout, stderr, success).
fn pg_tool(program: &str, args: &[&str]) -> (String, String, bool) {
    let out = Command::new(crate::postgres::bin_dir().join(program))
        .args(args)
        .output()
        .expect("PostgreSQL 15's client programs are installed");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// psql against the PostgreSQL of `port`, database `db`, stopping at the
/// first error; `input` on stdin.
fn psql_postgres(port: u16, db: &str, args: &[&str], input: &str) -> (String, String, bool) {
    use std::io::Write;
    let mut child = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            db,
        ])
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("psql reads the script");
    let out = child.wait_with_output().expect("psql finishes");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

const DUMPED_SCHEMA: &str = "
    CREATE TABLE items (id int PRIMARY KEY, name varchar(20) NOT NULL, price numeric(10,2) DEFAULT 1.50, note text);
    INSERT INTO items VALUES (1, 'tea', 2.50, 'it''s hot'), (2, 'tab\there', NULL, NULL), (3, 'back\\slash', 0.10, 'multi
line');
    CREATE TABLE other.counts (k text, n bigint);
    INSERT INTO other.counts VALUES ('a', 1), (NULL, 9223372036854775807);
    CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 1 OR price IS NULL;
    COMMENT ON TABLE items IS 'what we sell';
    COMMENT ON COLUMN items.note IS 'free text, shown to staff';
    COMMENT ON VIEW cheap IS 'under a pound';
    COMMENT ON SCHEMA other IS 'everything else';
";

const DUMPED_CHECKS: &[&str] = &[
    "SELECT id, name, price, note FROM public.items ORDER BY id",
    "SELECT k, n FROM other.counts ORDER BY n",
    "SELECT id, name FROM public.cheap ORDER BY id",
    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'public.items'::regclass",
    "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, column_default, is_nullable \
     FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position",
    "SELECT c.relname, d.objsubid, d.description FROM pg_description d \
     JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass \
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'other') ORDER BY 1, 2",
    "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace \
     WHERE nspname IN ('public', 'other') ORDER BY 1",
];

fn brook_checks(brook: &Brook) -> Vec<String> {
    DUMPED_CHECKS
        .iter()
        .map(|sql| {
            let (out, err, ok) = brook.psql(&["-At", "-c", sql]);
            assert!(ok, "{sql} on Brook: {err}");
            out
        })
        .collect()
}

#[test]
fn pg_dump_of_brook_restores_into_postgresql_and_pg_restore_into_brook() {
    let brook = Brook::start();
    let (_, err, ok) = brook.psql(&["-c", "CREATE SCHEMA other", "-c", DUMPED_SCHEMA]);
    assert!(ok, "{err}");
    let conn = brook.port().to_string();
    let conn = [
        "-h",
        "127.0.0.1",
        "-p",
        conn.as_str(),
        "-U",
        "brook",
        "-d",
        "brook",
    ];
    let expected = brook_checks(&brook);
    assert!(expected[0].contains("it's hot"), "{expected:?}");
    assert!(expected[5].contains("items|4|free text"), "{expected:?}");
    assert!(
        expected[6].contains("other|everything else"),
        "{expected:?}"
    );

    // Each form a user asks for succeeds and names what it should.
    for (extra, wants) in [
        (vec!["--schema-only"], "CREATE TABLE public.items"),
        (
            vec!["--data-only"],
            "COPY public.items (id, name, price, note) FROM stdin;",
        ),
        (
            vec!["-t", "items"],
            "ADD CONSTRAINT items_pkey PRIMARY KEY (id);",
        ),
    ] {
        let args: Vec<&str> = conn.iter().copied().chain(extra.iter().copied()).collect();
        let (out, err, ok) = pg_tool("pg_dump", &args);
        assert!(ok, "pg_dump {extra:?}: {err}\nlog:\n{}", brook.log());
        assert!(
            out.contains(wants),
            "pg_dump {extra:?} lacks {wants}:\n{out}"
        );
        assert!(!out.contains("REVOKE") && !out.contains("GRANT"), "{out}");
    }

    // The plain dump, piped into PostgreSQL 15 (with Brook's role, as a
    // DBA restoring globals first would have), gives the same answers.
    let (dump, err, ok) = pg_tool("pg_dump", &conn);
    assert!(ok, "pg_dump: {err}");
    let postgres = Postgres::start();
    let (_, err, ok) = psql_postgres(postgres.port, "postgres", &[], "CREATE ROLE brook;");
    assert!(ok, "{err}");
    let (_, err, ok) = psql_postgres(postgres.port, "postgres", &[], &dump);
    assert!(ok, "the dump does not load into PostgreSQL: {err}\n{dump}");
    for (sql, want) in DUMPED_CHECKS.iter().zip(&expected) {
        let (out, err, ok) = psql_postgres(postgres.port, "postgres", &["-c", sql], "");
        assert!(ok, "{sql} on PostgreSQL: {err}");
        assert_eq!(
            &out, want,
            "{sql}: PostgreSQL restored other rows than Brook holds"
        );
    }

    // The custom format, restored into a fresh Brook by pg_restore.
    let archive = brook.data_dir().join("dump.custom");
    let archive = archive.to_str().expect("utf-8 path");
    let args: Vec<&str> = conn.iter().copied().chain(["-Fc", "-f", archive]).collect();
    let (_, err, ok) = pg_tool("pg_dump", &args);
    assert!(ok, "pg_dump -Fc: {err}");
    let restored = Brook::start();
    let port = restored.port().to_string();
    let (_, err, ok) = pg_tool(
        "pg_restore",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "brook",
            "-d",
            "brook",
            "--exit-on-error",
            archive,
        ],
    );
    assert!(ok, "pg_restore into Brook: {err}\nlog:\n{}", restored.log());
    assert_eq!(brook_checks(&restored), expected);
}

/// pgcli's completion as its background refresher builds it, on Brook and
/// on PostgreSQL: every refresher succeeds (one failure and pgcli offers
/// nothing: it was `Cannot cast string '[2276]' to value of Int32 type`)
/// and the same table, columns and schema are offered.
#[test]
fn pgcli_completion_offers_what_it_offers_on_postgresql() {
    let script = format!(
        "{}/tests/python/pgcli_completion.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = |port: u16, user: &str, db: &str| {
        let out = Command::new("python3")
            .args([script.as_str(), "127.0.0.1", &port.to_string(), user, db])
            .output()
            .expect("python3 runs");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.success(),
        )
    };
    let create = "CREATE TABLE completion_t (code int, city text)";
    let postgres = Postgres::start();
    let (_, err, ok) = psql_postgres(postgres.port, "postgres", &["-c", create], "");
    assert!(ok, "{err}");
    let (expected, err, ok) = run(postgres.port, "postgres", "postgres");
    assert!(
        ok,
        "pgcli on PostgreSQL itself (is pgcli installed?):\n{expected}{err}"
    );

    let brook = Brook::start();
    let (_, err, ok) = brook.psql(&["-c", create]);
    assert!(ok, "{err}");
    let (out, err, ok) = run(brook.port(), "brook", "brook");
    assert!(
        ok,
        "pgcli's refresh on Brook:\n{out}{err}\nlog:\n{}",
        brook.log()
    );
    assert_eq!(out, expected);
    assert!(out.contains("columns: ['city', 'code']"), "{out}");
}

#[test]
fn psycopg2_and_psycopg_send_and_read_every_type_as_on_postgresql() {
    let script = format!(
        "{}/tests/python/driver_types.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = |port: u16, user: &str| {
        let out = Command::new("python3")
            .args([script.as_str(), "127.0.0.1", &port.to_string(), user, user])
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "driver_types.py failed\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let postgres = Postgres::start();
    let expected = run(postgres.port, "postgres");
    let checks: Vec<&str> = expected.lines().collect();
    assert!(
        checks.len() >= 62 && checks.iter().all(|l| l.starts_with("pass ")),
        "the checks do not all pass on PostgreSQL itself:\n{expected}"
    );

    let brook = Brook::start();
    let got = run(brook.port(), "brook");
    let wrong: Vec<&str> = got.lines().filter(|l| l.starts_with("wrong ")).collect();
    assert!(
        wrong.is_empty(),
        "Brook answered with other values:\n{}",
        wrong.join("\n")
    );
    let missing: Vec<&str> = got.lines().filter(|l| !l.starts_with("pass ")).collect();
    assert!(
        missing.is_empty(),
        "checks that pass on PostgreSQL fail on Brook:\n{}",
        missing.join("\n")
    );
    assert_eq!(
        got.lines().count(),
        checks.len(),
        "Brook ran another number of checks:\n{got}"
    );
}
