//! The differential oracle (issue #19): the same SQL on Brook and on a real
//! PostgreSQL 15 started here, compared row for row (order-insensitive,
//! numbers to 1e-9 relative) and column type for column type, every mismatch
//! classified. Fed SQLite's sqllogictest corpus (public domain; `select1`–
//! `select5` and one file of each `random/` directory, in
//! `tests/data/sqllogictest/`) and a seeded random query generator
//! ([`generator`]).
//!
//! A wrong result — both answer and the rows differ, or Brook answers where
//! PostgreSQL refuses — fails the test: a database may refuse, never lie.
//! An error only on Brook is allowed and counted by cause (the report lists
//! them); so are same values with other column types.
//!
//! CI runs a fixed sample (every `BROOK_DIFF_STRIDE`-th query, default 7).
//! `scripts/differential.sh` runs everything (stride 1) and writes the pass
//! rates that docs/compatibility.md quotes.

mod corpus;
mod generator;
mod report;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::postgres::Postgres;
use crate::support::{Brook, setting};
use corpus::Record;
use report::{Outcome, Report};

/// A query's answer: rows of cells as text, or the error's SQLSTATE and message.
type Answer = Result<Vec<Vec<Option<String>>>, (String, String)>;

async fn answer(client: &Client, sql: &str) -> Answer {
    match client.simple_query(sql).await {
        Ok(messages) => Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) => Err((
            e.code().map(|c| c.code().to_string()).unwrap_or_default(),
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string()),
        )),
    }
}

/// The column type OIDs of `sql`'s result, when it can be described.
async fn types(client: &Client, sql: &str) -> Option<Vec<u32>> {
    let statement = client.prepare(sql).await.ok()?;
    Some(
        statement
            .columns()
            .iter()
            .map(|c| c.type_().oid())
            .collect(),
    )
}

/// A number's value, if `text` is one.
fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty()
        || t.chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return match t {
            "NaN" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        };
    }
    t.parse().ok()
}

/// A cell in a form that sorts the same on both sides.
fn canonical(cell: &Option<String>) -> String {
    match cell {
        None => "NULL".to_string(),
        Some(t) => match number(t) {
            Some(v) if v.is_finite() => format!("{v:.8e}"),
            Some(v) => format!("{v}"),
            None => match t.as_str() {
                "true" => "t".into(),
                "false" => "f".into(),
                other => other.to_string(),
            },
        },
    }
}

fn same_cell(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => match (number(x), number(y)) {
            (Some(p), Some(q)) => {
                p == q
                    || (p.is_nan() && q.is_nan())
                    || (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1e-300)
            }
            _ => canonical(a) == canonical(b),
        },
        _ => false,
    }
}

/// Whether two answers hold the same rows (as multisets).
fn same_rows(a: &[Vec<Option<String>>], b: &[Vec<Option<String>>]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let sorted = |rows: &[Vec<Option<String>>]| {
        let mut keyed: Vec<(Vec<String>, Vec<Option<String>>)> = rows
            .iter()
            .map(|r| (r.iter().map(canonical).collect(), r.clone()))
            .collect();
        keyed.sort_by(|x, y| x.0.cmp(&y.0));
        keyed.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
    };
    let (a, b) = (sorted(a), sorted(b));
    a.iter()
        .zip(&b)
        .all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_cell(p, q)))
}

/// Compare one query on both servers.
async fn compare(brook: &Client, pg: &Client, sql: &str) -> Outcome {
    let theirs = answer(pg, sql).await;
    let ours = answer(brook, sql).await;
    match (theirs, ours) {
        (Err(_), Err(_)) => Outcome::BothRefuse,
        (Ok(_), Err((code, message))) => Outcome::BrookError { code, message },
        (Err((code, message)), Ok(rows)) => Outcome::Wrong {
            postgres: format!("ERROR {code}: {message}"),
            brook: report::show(&rows),
        },
        (Ok(expected), Ok(rows)) => {
            if !same_rows(&expected, &rows) {
                return Outcome::Wrong {
                    postgres: report::show(&expected),
                    brook: report::show(&rows),
                };
            }
            match (types(pg, sql).await, types(brook, sql).await) {
                (Some(p), Some(b)) if p != b => Outcome::OtherTypes {
                    postgres: p,
                    brook: b,
                },
                _ => Outcome::Equal,
            }
        }
    }
}

/// Run one corpus file (every `stride`-th query) on a fresh Brook and a fresh
/// PostgreSQL database, adding to `report`.
async fn run_file(
    name: &str,
    records: &[Record],
    stride: usize,
    pg: &Postgres,
    report: &mut Report,
) {
    let brook_server = Brook::start();
    let brook = brook_server.client().await;
    let admin = pg.client().await;
    let db = format!("diff_{}", report.files.len());
    // One statement per message: PostgreSQL runs a multi-statement
    // message as one transaction, where DROP DATABASE may not run.
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .expect("database for the file");
    }
    let (pg_client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={} user=postgres dbname={db}", pg.port),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect to the file's database");
    tokio::spawn(connection);

    let mut seen = 0usize;
    for record in corpus::merge_inserts(records) {
        match record {
            Record::Statement { sql } => {
                let theirs = pg_client.batch_execute(&sql).await;
                let ours = brook.batch_execute(&sql).await;
                if let (Ok(()), Err(e)) = (&theirs, &ours) {
                    report.setup_error(name, &sql, &e.to_string());
                }
            }
            Record::Query { sql } => {
                seen += 1;
                if !(seen - 1).is_multiple_of(stride) {
                    continue;
                }
                let outcome = compare(&brook, &pg_client, &sql).await;
                report.add(name, &sql, outcome);
            }
        }
    }
    drop(brook);
    drop(brook_server);
}

fn read_gz(path: &Path) -> String {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("corpus file is gzip");
    text
}

fn corpus_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sqllogictest");
    let mut files: Vec<_> = ["select1", "select2", "select3", "select4", "select5"]
        .iter()
        .map(|n| (n.to_string(), root.join(format!("{n}.test.gz"))))
        .collect();
    for d in ["aggregates", "expr", "groupby", "select"] {
        files.push((
            format!("random/{d}/slt_good_0"),
            root.join(format!("random/{d}_slt_good_0.test.gz")),
        ));
    }
    files.into_iter().map(|(n, p)| (n, read_gz(&p))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brook_answers_as_postgres_does_or_refuses() {
    let stride = setting("BROOK_DIFF_STRIDE", 7).max(1) as usize;
    let only = std::env::var("BROOK_DIFF_ONLY").ok();
    let pg = Postgres::start();
    let mut report = Report::default();
    for (name, text) in corpus_files() {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let records = corpus::parse(&text, "postgresql");
        report.files.push(name.clone());
        run_file(&name, &records, stride, &pg, &mut report).await;
    }
    if only.as_deref().is_none_or(|o| o.contains("generated")) {
        let seed = setting("BROOK_DIFF_SEED", 19);
        let queries = setting("BROOK_DIFF_GENERATED", 600) as usize;
        let records = generator::records(seed, queries);
        report.files.push("generated".into());
        run_file("generated", &records, 1, &pg, &mut report).await;
    }
    let text = report.render();
    println!("{text}");
    if let Ok(path) = std::env::var("BROOK_DIFF_REPORT") {
        std::fs::write(&path, &text).expect("report written");
    }
    let wrong: BTreeMap<_, _> = report.wrong_by_file();
    assert!(
        wrong.is_empty(),
        "Brook gave answers that differ from PostgreSQL's: {wrong:?}\n{text}"
    );
    assert!(report.total() > 0, "no query was compared");
}
