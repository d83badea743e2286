//! The speed-dating story (SPEC §6), run the two ways a user runs it: the
//! README's first command (`brook demo`, with librdkafka's in-process mock
//! cluster) and the SQL files through `psql -f` against `brook serve
//! --kafka` and a real broker (tansu). Both end with the same checks, made
//! after a restart so that the predictions are compared with a model loaded
//! back from disk.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tokio_postgres::Client;

use crate::kafka::Tansu;
use crate::support::{Brook, free_port, wait_for};

const TRAINING_WAVES: std::ops::RangeInclusive<i64> = 1..=14;

/// Pairs per topic counted straight from the shipped CSV: (training, classify).
fn expected_pairs() -> (i64, i64) {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(repo().join("data/speed_dating.csv.gz")).expect("the data set"),
    )
    .read_to_end(&mut text)
    .expect("gzip");
    let mut reader = csv::Reader::from_reader(text.as_slice());
    let wave = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "wave")
        .unwrap();
    let (mut training, mut classify) = (0, 0);
    for record in reader.records() {
        match record.unwrap().get(wave).unwrap().trim().parse::<i64>() {
            Ok(w) if TRAINING_WAVES.contains(&w) => training += 1,
            Ok(_) => classify += 1,
            Err(_) => {} // the trailing row of empty cells
        }
    }
    (training, classify)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn brook_cmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("brook runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

async fn number(client: &Client, sql: &str) -> f64 {
    let rows = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|v| v.parse().unwrap()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

/// The model's features as the demo passes them (sql/speed_dating/04).
const FEATURES: &str = "attr_o, sinc_o, intel_o, fun_o, amb_o, shar_o, like_o, prob_o, met_o, \
    attr, sinc, intel, fun, amb, shar, like, prob, met, \
    attr1_1, sinc1_1, intel1_1, fun1_1, amb1_1, shar1_1, \
    pf_o_att, pf_o_sin, pf_o_int, pf_o_fun, pf_o_amb, pf_o_sha, \
    age, age_o, int_corr, samerace, \
    CAST(race AS text), CAST(race_o AS text), CAST(field_cd AS text), CAST(gender AS text)";

/// What both routes must leave behind, checked on a restarted server.
async fn assert_story(client: &Client) {
    let (training, classify) = expected_pairs();
    assert_eq!(
        number(client, "SELECT count(*) FROM dating_training_data").await as i64,
        training
    );
    assert_eq!(
        number(client, "SELECT count(*) FROM dating_results").await as i64,
        classify
    );
    assert_eq!(
        number(
            client,
            "SELECT count(*) FROM (SELECT DISTINCT iid, pid, wave, round FROM dating_results)"
        )
        .await as i64,
        classify,
        "a scored pair landed twice"
    );
    assert_eq!(
        number(
            client,
            "SELECT count(*) FROM information_schema.pipelines_errors"
        )
        .await,
        0.0
    );
    assert_eq!(
        number(
            client,
            "SELECT count(*) FROM dating_training_data WHERE wave > 14"
        )
        .await,
        0.0
    );
    assert_eq!(
        number(client, "SELECT count(*) FROM dating_training").await,
        1.0
    );
    let auc = number(client, "SELECT roc_auc FROM dating_training").await;
    assert!(auc > 0.5 && auc <= 1.0, "roc_auc {auc}");
    // Every pair was scored, by the version PREDICT uses now, and the stored
    // answers equal what the model reloaded from disk says.
    assert_eq!(
        number(
            client,
            "SELECT count(*) FROM dating_results WHERE is_match IS NULL OR match_probability IS NULL \
             OR model_version IS DISTINCT FROM MODEL_VERSION('dating_model')"
        )
        .await,
        0.0
    );
    let disagreements = number(
        client,
        &format!(
            "SELECT count(*) FROM dating_results \
             WHERE is_match IS DISTINCT FROM CAST(PREDICT('dating_model', {FEATURES}) AS boolean) \
                OR abs(match_probability - PREDICT_PROBA('dating_model', {FEATURES})) > 1e-12"
        ),
    )
    .await;
    assert_eq!(disagreements, 0.0);
    // The model suggests some matches and rejects some pairs.
    let suggested = number(client, "SELECT count(*) FROM dating_results WHERE is_match").await;
    assert!(
        suggested > 0.0 && suggested < classify as f64,
        "{suggested}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brook_demo_tells_the_story_and_a_second_run_on_its_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port().to_string();
    let data = data_dir.to_str().unwrap();
    // --keep-running: the report, then a server psql can reach until SIGTERM.
    let mut child = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["demo", "--keep-running", "--data-dir", data, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("brook demo starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                stdout.push_str(&line);
                stdout.push('\n');
                if line.starts_with("The server keeps running") {
                    break;
                }
            }
            _ => {
                let mut stderr = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
                panic!("brook demo ended before its report:\n{stdout}\n{stderr}");
            }
        }
    }
    let psql = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "brook",
            "-d",
            "brook",
            "-X",
            "-At",
        ])
        .args(["-c", "SELECT count(*) FROM dating_results WHERE is_match"])
        .output()
        .expect("psql");
    assert!(psql.status.success(), "{}", text(&psql.stderr));
    let suggested: i64 = text(&psql.stdout).trim().parse().unwrap();
    assert!(suggested > 0, "{suggested}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "Ctrl-C / SIGTERM ends --keep-running cleanly"
    );

    let (training, classify) = expected_pairs();
    let row_of = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name} in the report:\n{stdout}"))
            .split('|')
            .map(|c| c.trim().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(row_of("dating_training_data")[1], training.to_string());
    assert_eq!(row_of("dating_results")[1], classify.to_string());
    assert_eq!(row_of("information_schema.pipelines_errors")[1], "0");
    for heading in [
        "The model: SELECT * FROM dating_training",
        "How good are the suggestions? is_match against the people's real match",
        "The best-rated pairs the model turns down",
        "Accuracy per wave (waves 15-21 were never seen in training)",
        "The people with the most suggested matches, and how many they really got",
        "The two people's own decisions against the model's suggestion",
        "Time per step (seconds)",
    ] {
        assert!(stdout.contains(heading), "no '{heading}' in:\n{stdout}");
    }
    // Per-wave accuracy: one row per wave 15-21.
    assert!(stdout.contains("(7 rows)"), "{stdout}");
    assert!(stdout.contains(&format!("psql -h 127.0.0.1 -p {port} -U brook brook")));

    // Restart on the demo's data: the model and tables come back from disk.
    let brook = Brook::start_on(&data_dir);
    let client = brook.client().await;
    assert_story(&client).await;
    drop(client);
    drop(brook);

    // --produce-only needs a broker to produce to.
    let wrong = brook_cmd(&["demo", "--produce-only"]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("--kafka"),
        "{}",
        text(&wrong.stderr)
    );

    // Running the demo again on the same data directory stops at the first
    // CREATE TABLE with a message saying what to do, and changes nothing.
    let again = brook_cmd(&[
        "demo",
        "--data-dir",
        data,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let stderr = text(&again.stderr);
    assert!(!again.status.success());
    assert!(stderr.contains("01_tables.sql, statement 1"), "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("give an empty --data-dir"), "{stderr}");
    let brook = Brook::start_on(&data_dir);
    assert_story(&brook.client().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_files_run_with_psql_against_brook_serve_and_a_real_broker() {
    let kafka = Tansu::start();
    let produced = brook_cmd(&["demo", "--kafka", &kafka.brokers(), "--produce-only"]);
    assert!(
        produced.status.success(),
        "{}\n{}\n{}",
        text(&produced.stdout),
        text(&produced.stderr),
        kafka.log()
    );
    // A second producer run sees the data already there and sends nothing.
    let again = brook_cmd(&["demo", "--kafka", &kafka.brokers(), "--produce-only"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("already hold the data set"),
        "{}",
        text(&again.stdout)
    );

    let brook = Brook::start_with_kafka(&kafka.brokers());
    let files = sql_files();
    let (analysis, setup) = files.split_last().unwrap();
    for file in setup {
        let (out, err, ok) = brook.psql(&["-f", file.to_str().unwrap()]);
        assert!(ok, "{}: {out}\n{err}\n{}", file.display(), brook.log());
    }
    let client = brook.client().await;
    let (_, classify) = expected_pairs();
    wait_for(
        &brook,
        &client,
        "SELECT count(*) FROM dating_results",
        classify,
    )
    .await;
    let (out, err, ok) = brook.psql(&["-f", analysis.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("real_matches") && out.contains("subject_said_yes"),
        "{out}"
    );
    assert!(out.contains("(7 rows)"), "{out}");
    drop(client);

    let brook = brook.restart();
    assert_story(&brook.client().await).await;
    drop(brook);

    // What docker/compose.yml's brook service does: the whole demo against
    // a broker a one-shot producer already filled.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = format!("127.0.0.1:{}", free_port());
    let run = brook_cmd(&[
        "demo",
        "--kafka",
        &kafka.brokers(),
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--listen",
        &port,
    ]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    assert!(stdout.contains("already hold the data set"), "{stdout}");
    assert!(stdout.contains("Time per step"), "{stdout}");
    let brook = Brook::start_on(&data_dir);
    assert_story(&brook.client().await).await;
}

/// `sql/speed_dating/*.sql`, in order.
fn sql_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("sql/speed_dating"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5);
    files
}

/// docker/compose.yml cannot be run here (no Docker): its syntax is checked
/// with a YAML parser, and what it asks of Brook with Brook's own CLI.
#[test]
fn the_compose_file_parses_and_asks_only_what_the_cli_offers() {
    let compose = repo().join("docker/compose.yml");
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&compose)
        .output()
        .expect("python3 with PyYAML");
    assert!(parsed.status.success(), "{}", text(&parsed.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
    let services = doc["services"].as_object().expect("services");
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in ["kafka", "producer", "brook"] {
        assert!(services.contains_key(name), "no service {name}");
    }
    let kafka = &services["kafka"];
    assert!(
        kafka["image"]
            .as_str()
            .unwrap()
            .starts_with("apache/kafka:"),
        "the official image"
    );
    assert_eq!(
        kafka["environment"]["KAFKA_PROCESS_ROLES"], "broker,controller",
        "KRaft: the node is its own controller"
    );
    assert!(kafka["healthcheck"].is_object());
    assert_eq!(
        services["producer"]["depends_on"]["kafka"]["condition"],
        "service_healthy"
    );
    assert_eq!(
        services["brook"]["depends_on"]["producer"]["condition"],
        "service_completed_successfully"
    );
    let dockerfile = services["producer"]["build"]["dockerfile"]
        .as_str()
        .unwrap();
    check_dockerfile(
        &compose
            .parent()
            .unwrap()
            .join(services["producer"]["build"]["context"].as_str().unwrap()),
        dockerfile,
    );

    // Each command is `brook demo …`; every flag it passes is one the CLI has,
    // and the broker is the kafka service's advertised listener.
    let help = text(&brook_cmd(&["demo", "--help"]).stdout);
    let advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        .as_str()
        .unwrap()
        .trim_start_matches("PLAINTEXT://")
        .to_string();
    for name in ["producer", "brook"] {
        let command: Vec<&str> = services[name]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(command[0], "demo", "{name}: {command:?}");
        for flag in command.iter().filter(|a| a.starts_with("--")) {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "{name}: {flag} is not a flag of brook demo:\n{help}"
            );
        }
        let at = command.iter().position(|a| *a == "--kafka").unwrap();
        assert_eq!(command[at + 1], advertised, "{name}");
    }
}

/// The Dockerfile builds the binary in one stage and runs it in a slim one,
/// copying only paths that exist in the repository.
fn check_dockerfile(context: &Path, dockerfile: &str) {
    let text = std::fs::read_to_string(context.join(dockerfile)).expect("docker/Dockerfile");
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    assert!(froms[0].contains(" AS build"), "{froms:?}");
    assert!(froms[1].contains("slim"), "{froms:?}");
    assert!(text.contains("cargo build --release --locked --bin brook"));
    assert!(text.contains("ENTRYPOINT [\"brook\"]"));
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let source = line.split_whitespace().nth(1).unwrap();
        assert!(
            context.join(source).exists(),
            "{line}: {source} is not in the repository"
        );
    }
}
