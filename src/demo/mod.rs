//! `brook demo`: the speed-dating story end to end (SPEC §6).
//!
//! A broker (librdkafka's in-process mock cluster unless `--kafka` names
//! one) receives the data set — waves 1–14 on `training`, 15–21 on
//! `classify` — an embedded server starts, and the files of
//! `sql/speed_dating/` run through the Postgres wire protocol exactly as
//! `psql -f` would send them. The demo then waits until both pipelines have
//! caught up and prints the report.
//!
//! - `data`: the CSV → one JSON message per row.
//! - `kafka`: the broker, the topics, the producer.
//! - `script`: the SQL files and their statements.
//! - `session`: a Postgres connection that passes NOTICEs on.
//! - `report`: progress bars and the printed tables.

pub mod data;
pub mod kafka;
pub mod report;
pub mod script;
pub mod session;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::config::{ServeArgs, Settings};
use crate::engine::Engine;
use crate::error::BrookError;
use crate::server::Admission;
use data::{CLASSIFY_TOPIC, DataError, DataSet, TRAINING_TOPIC};
use kafka::{Broker, KafkaSetupError};
use report::{Timing, heading, progress, seconds, table, thousands, timings};
use script::{FILES, ScriptFile};
use session::{Answer, Session, SqlFailure};

/// Flags of `brook demo`.
#[derive(Debug, Clone, Default, Args)]
pub struct DemoArgs {
    /// Kafka bootstrap servers (host:port). Without it the demo starts
    /// librdkafka's in-process mock cluster and needs nothing installed.
    #[arg(long)]
    pub kafka: Option<String>,
    /// Address of the embedded server [default: 127.0.0.1:5433, or a free
    /// port when that one is taken]
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory of the embedded server; it must not hold the demo's
    /// tables yet [default: a temporary directory, removed at exit]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// After the report, keep the server (and the mock cluster) running for
    /// psql until Ctrl-C
    #[arg(long)]
    pub keep_running: bool,
    /// Only send the data set to the topics and exit: the one-shot producer
    /// of docker/compose.yml and of the psql walkthrough (needs --kafka)
    #[arg(long, requires = "kafka")]
    pub produce_only: bool,
}

#[derive(Debug, Error)]
pub enum DemoError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Kafka(#[from] KafkaSetupError),
    #[error(transparent)]
    Server(#[from] BrookError),
    #[error("{file} cannot be split into statements: {reason}")]
    Script { file: &'static str, reason: String },
    #[error("{file}, statement {index}: {failure}{hint}\n  statement: {statement}")]
    Statement {
        file: &'static str,
        index: usize,
        statement: String,
        failure: SqlFailure,
        hint: &'static str,
    },
    #[error("the demo's own query failed: {0}")]
    Query(#[from] SqlFailure),
    #[error(
        "pipeline {pipeline} is in state {state} with {landed} of {expected} messages accounted for: {last_error}"
    )]
    Pipeline {
        pipeline: &'static str,
        state: String,
        landed: i64,
        expected: u64,
        last_error: String,
    },
}

/// How long a pipeline may make no progress before the demo gives up.
const STALL_LIMIT: Duration = Duration::from_secs(120);
const POLL_EVERY: Duration = Duration::from_millis(200);

/// The demo's two pipelines: name, table, topic.
const TRAINING: Flow = Flow {
    pipeline: "speed_dating_training",
    table: "dating_training_data",
    topic: TRAINING_TOPIC,
};
const RESULTS: Flow = Flow {
    pipeline: "speed_dating_results",
    table: "dating_results",
    topic: CLASSIFY_TOPIC,
};

#[derive(Debug, Clone, Copy)]
struct Flow {
    pipeline: &'static str,
    table: &'static str,
    topic: &'static str,
}

/// Run the demo; `shutdown` (Ctrl-C) ends `--keep-running`.
pub async fn run(args: DemoArgs, shutdown: impl Future<Output = ()>) -> Result<(), DemoError> {
    let data = data::speed_dating()?;
    let broker = Broker::start(args.kafka.clone())?;
    let mut steps = Vec::new();

    println!("Brook demo: the Speed Dating experiment");
    println!("  kafka   {}", broker.describe());
    let started = Instant::now();
    broker.create_topics().await?;
    let expected = [
        (TRAINING_TOPIC, data.count(TRAINING_TOPIC)),
        (CLASSIFY_TOPIC, data.count(CLASSIFY_TOPIC)),
    ];
    if broker.needs_data(&expected)? {
        produce(&broker, &data).await?;
        steps.push(Timing {
            step: "produce the data set".into(),
            took: started.elapsed(),
        });
    } else {
        println!("      the topics already hold the data set: not producing it again");
    }
    if args.produce_only {
        return Ok(());
    }

    let (_temp, data_dir) = match &args.data_dir {
        Some(dir) => (None, dir.clone()),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("brook-demo-")
                .tempdir()
                .map_err(BrookError::from)?;
            let dir = temp.path().to_path_buf();
            (Some(temp), dir)
        }
    };
    let (listener, settings) = bind(args.listen.as_deref()).await?;
    let port = listener.local_addr().map_err(BrookError::from)?.port();
    // A throw-away data directory keeps its key inside, to go with it.
    let key_file = match &_temp {
        Some(temp) => temp.path().join("secrets.key"),
        None => crate::secrets::default_key_file(&data_dir),
    };
    let secrets = crate::secrets::SecretsKey::load_or_create(&key_file, &[])?;
    let engine = Engine::open(
        &data_dir,
        Some(broker.bootstrap_servers()),
        settings.memory_limit,
        settings.flush,
        std::sync::Arc::new(secrets),
    )
    .await?;
    let admission = Admission::from_settings(&settings)?;
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::run(
        engine,
        listener,
        admission,
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let psql = format!("psql -h 127.0.0.1 -p {port} -U brook brook");
    println!("  server  {psql}");
    println!("  data    {}", data_dir.display());

    let outcome = story(port, &data, &mut steps).await;
    match &outcome {
        Ok(()) if args.keep_running => {
            println!("\nThe server keeps running: {psql}  (Ctrl-C stops it)");
            shutdown.await;
        }
        _ => {}
    }
    let _ = stop_server.send(());
    if let Ok(Err(e)) = server.await {
        tracing::warn!(error = %e, "the embedded server stopped with an error");
    }
    outcome
}

/// Send the data set, with a progress bar.
async fn produce(broker: &Broker, data: &DataSet) -> Result<(), DemoError> {
    let started = Instant::now();
    let bar = progress("producing", data.messages.len() as u64);
    broker
        .produce(&data.messages, |done| bar.set_position(done as u64))
        .await?;
    bar.finish_and_clear();
    println!(
        "[produce] {} pairs: {} to '{}', {} to '{}' ({} empty row left out)  {} s",
        thousands(data.messages.len() as u64),
        thousands(data.count(TRAINING_TOPIC) as u64),
        TRAINING_TOPIC,
        thousands(data.count(CLASSIFY_TOPIC) as u64),
        CLASSIFY_TOPIC,
        data.empty_rows,
        seconds(started.elapsed()),
    );
    Ok(())
}

/// `--listen`, or 127.0.0.1:5433 falling back to a free port when taken;
/// with the server's default settings for it.
async fn bind(listen: Option<&str>) -> Result<(TcpListener, Settings), DemoError> {
    let settings = Settings::resolve(&ServeArgs {
        listen: listen.map(str::to_string),
        ..Default::default()
    })?;
    let listener = match TcpListener::bind(settings.listen).await {
        Ok(listener) => listener,
        Err(_) if listen.is_none() => TcpListener::bind((settings.listen.ip(), 0))
            .await
            .map_err(BrookError::from)?,
        Err(e) => return Err(BrookError::from(e).into()),
    };
    Ok((listener, settings))
}

/// The SQL files in order, the waits for the pipelines, and the report.
async fn story(port: u16, data: &DataSet, steps: &mut Vec<Timing>) -> Result<(), DemoError> {
    let mut session = Session::connect(port).await?;
    let mut watcher = Session::connect(port).await?;
    let mut analysis = Vec::new();
    for file in FILES {
        let started = Instant::now();
        println!("[{}] {}", file.name, file.step);
        let answers = run_file(&mut session, &mut watcher, &file, data).await?;
        if file.analysis {
            analysis.extend(answers);
        }
        steps.push(Timing {
            step: format!("{}: {}", file.name, file.step),
            took: started.elapsed(),
        });
        let Some(flow) = file.then_catch_up.and_then(flow_of) else {
            continue;
        };
        let started = Instant::now();
        let total = data.count(flow.topic) as u64;
        wait_caught_up(&mut watcher, flow, total).await?;
        if flow.pipeline == RESULTS.pipeline {
            println!(
                "[{}] {} pairs scored while ingested  {}",
                flow.pipeline,
                thousands(total),
                rate(total, started.elapsed())
            );
            steps.push(Timing {
                step: "score waves 15-21 in the pipeline".into(),
                took: started.elapsed(),
            });
        }
    }
    print_report(&mut session, &analysis, steps).await
}

/// An analyst query's title, answer and time.
type Titled = (String, Answer, Duration);

/// Run one file statement by statement (as `psql -f` does), following a
/// `START PIPELINE … FOREGROUND` with a progress bar; the answers of the
/// statements that have a title are returned.
async fn run_file(
    session: &mut Session,
    watcher: &mut Session,
    file: &ScriptFile,
    data: &DataSet,
) -> Result<Vec<Titled>, DemoError> {
    let statements = script::statements(file.text).map_err(|reason| DemoError::Script {
        file: file.name,
        reason,
    })?;
    let mut answers = Vec::new();
    for (index, statement) in statements.into_iter().enumerate() {
        let started = Instant::now();
        let work = session.run(&statement.sql, |notice| println!("      {notice}"));
        let answer = match foreground_flow(&statement.sql) {
            Some(flow) => {
                let total = data.count(flow.topic) as u64;
                let answer = watch(watcher, flow, total, work).await?;
                let landed = accounted(watcher, flow).await?.max(0) as u64;
                println!(
                    "[{}] {} pairs loaded in the foreground  {}",
                    flow.pipeline,
                    thousands(landed),
                    rate(landed, started.elapsed())
                );
                answer
            }
            None => work.await,
        }
        .map_err(|failure| statement_error(file, index + 1, &statement.sql, failure))?;
        if let Some(title) = statement.title {
            answers.push((title, answer, started.elapsed()));
        }
    }
    Ok(answers)
}

/// Row counts, the model's evaluation, the analyst's answers, step times.
async fn print_report(
    session: &mut Session,
    analysis: &[Titled],
    steps: &[Timing],
) -> Result<(), DemoError> {
    println!("{}", heading("Rows"));
    let counts = session
        .run(
            &format!(
                "SELECT \"table\", rows FROM ( \
                 SELECT 1 AS k, '{t}' AS \"table\", count(*) AS rows FROM {t} \
                 UNION ALL SELECT 2, '{r}', count(*) FROM {r} \
                 UNION ALL SELECT 3, 'information_schema.pipelines_errors', count(*) \
                 FROM information_schema.pipelines_errors) ORDER BY k",
                t = TRAINING.table,
                r = RESULTS.table
            ),
            |_| {},
        )
        .await?;
    println!("{}", table(&counts));
    println!("{}", heading("The model: SELECT * FROM dating_training"));
    let evaluation = session.run("SELECT * FROM dating_training", |_| {}).await?;
    println!("{}", table(&evaluation));
    for (title, answer, took) in analysis {
        println!("{}", heading(title));
        println!("{}", table(answer));
        println!("Time: {} s", seconds(*took));
    }
    println!("{}", heading("Time per step (seconds)"));
    println!("{}", timings(steps));
    Ok(())
}

fn flow_of(pipeline: &str) -> Option<Flow> {
    [TRAINING, RESULTS]
        .into_iter()
        .find(|f| f.pipeline == pipeline)
}

/// `1.25 s, 4,595 messages/s`: end to end, batch intervals included.
fn rate(messages: u64, took: Duration) -> String {
    let per_second = messages as f64 / took.as_secs_f64().max(1e-3);
    format!(
        "{} s, {} messages/s",
        seconds(took),
        thousands(per_second.round() as u64)
    )
}

/// The flow a `START PIPELINE … FOREGROUND` statement runs, if it is one.
fn foreground_flow(sql: &str) -> Option<Flow> {
    let words: Vec<String> = sql
        .split_whitespace()
        .map(|w| w.trim_end_matches(';').to_ascii_lowercase())
        .collect();
    let is_foreground = words.len() >= 4
        && words[0] == "start"
        && words[1] == "pipeline"
        && words.iter().any(|w| w == "foreground");
    if !is_foreground {
        return None;
    }
    flow_of(&words[2])
}

fn statement_error(file: &ScriptFile, index: usize, sql: &str, failure: SqlFailure) -> DemoError {
    use crate::error::SqlState;
    let exists = [SqlState::DUPLICATE_TABLE, SqlState::DUPLICATE_OBJECT];
    let hint = match failure.sqlstate.as_deref() {
        Some(code) if exists.iter().any(|s| s.code() == code) => {
            " — the data directory already holds the demo: give an empty --data-dir"
        }
        _ => "",
    };
    DemoError::Statement {
        file: file.name,
        index,
        statement: sql.lines().next().unwrap_or_default().to_string(),
        failure,
        hint,
    }
}

/// Messages of `flow` accounted for: rows in its table plus kept errors.
async fn accounted(watcher: &mut Session, flow: Flow) -> Result<i64, SqlFailure> {
    watcher
        .number(&format!(
            "SELECT (SELECT count(*) FROM {}) + \
             (SELECT count(*) FROM information_schema.pipelines_errors WHERE pipeline_name = '{}')",
            flow.table, flow.pipeline
        ))
        .await
}

/// Run `work` while a progress bar follows `flow`'s table.
async fn watch<T>(
    watcher: &mut Session,
    flow: Flow,
    total: u64,
    work: impl Future<Output = Result<T, SqlFailure>>,
) -> Result<Result<T, SqlFailure>, DemoError> {
    let bar = progress(flow.pipeline, total);
    tokio::pin!(work);
    let mut ticker = tokio::time::interval(POLL_EVERY);
    let outcome = loop {
        tokio::select! {
            done = &mut work => break done,
            _ = ticker.tick() => {
                let landed = accounted(watcher, flow).await?;
                bar.set_position(landed.max(0) as u64);
            }
        }
    };
    bar.finish_and_clear();
    Ok(outcome)
}

/// Wait until every message of `flow` has landed (or was kept as an error),
/// with a progress bar; fail when the pipeline errors or stalls.
async fn wait_caught_up(watcher: &mut Session, flow: Flow, total: u64) -> Result<(), DemoError> {
    let bar = progress(flow.pipeline, total);
    let mut last = -1;
    let mut last_change = Instant::now();
    loop {
        let landed = accounted(watcher, flow).await?;
        bar.set_position(landed.max(0) as u64);
        if landed >= total as i64 {
            break;
        }
        if landed != last {
            last = landed;
            last_change = Instant::now();
        }
        let state = watcher
            .run(
                &format!(
                    "SELECT state, last_error FROM information_schema.pipelines \
                     WHERE pipeline_name = '{}'",
                    flow.pipeline
                ),
                |_| {},
            )
            .await?;
        let row = state.rows.first().cloned().unwrap_or_default();
        let state = row.first().cloned().flatten().unwrap_or_default();
        if state == "Error" || state == "Stopped" || last_change.elapsed() > STALL_LIMIT {
            bar.finish_and_clear();
            return Err(DemoError::Pipeline {
                pipeline: flow.pipeline,
                state,
                landed,
                expected: total,
                last_error: row
                    .get(1)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| "no progress".into()),
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    bar.finish_and_clear();
    Ok(())
}
