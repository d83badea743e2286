//! `brook`: the command line (SPEC §1).

use std::process::ExitCode;

use brook::Settings;
use brook::config::ServeArgs;
use brook::demo::DemoArgs;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Every statement allocates and frees many small objects (plans,
/// expressions, batches) from many threads at once; under 64 clients glibc's
/// malloc took about a quarter of the server's CPU (BENCHMARKS.md,
/// bench/insert). mimalloc's thread-local free lists are built for that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "brook",
    version,
    about = "A streaming SQL database: Postgres wire, Kafka pipelines, in-SQL ML"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: Postgres wire protocol on --listen, data in --data-dir.
    Serve(Box<ServeArgs>),
    /// The speed-dating story end to end: Kafka (an in-process mock cluster
    /// unless --kafka), an embedded server, the SQL of sql/speed_dating/, and a report.
    Demo(DemoArgs),
    /// Make a SCRAM-SHA-256 verifier for a [[users]] entry of the config file
    /// (the password is read from the terminal, or from stdin when piped).
    Password(PasswordArgs),
}

#[derive(clap::Args)]
struct PasswordArgs {
    /// The user the entry is for
    #[arg(long, default_value = "brook")]
    user: String,
}

/// Print a `[[users]]` entry; the password itself is never printed or stored.
fn password(args: &PasswordArgs) -> Result<(), String> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        return Err("an empty password is not allowed".into());
    }
    let verifier = brook::scram::Verifier::from_password(&password);
    println!(
        "[[users]]\nname = {:?}\npassword = \"{verifier}\"",
        args.user
    );
    Ok(())
}

/// Brook's own progress at info; dependencies only when something is wrong.
/// The Delta kernel logs an ERROR each time a table is created (it probes for an
/// existing log first), so it is quiet unless RUST_LOG asks for it.
const DEFAULT_LOG: &str = "warn,brook=info,buoyant_kernel=off,deltalake_core::writer::stats=error";

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The demo's output is its report: only warnings are logged beside it.
const DEMO_LOG: &str = "warn,buoyant_kernel=off,deltalake_core::writer::stats=error";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = match cli.command {
        Command::Serve(_) => DEFAULT_LOG,
        Command::Demo(_) => DEMO_LOG,
        Command::Password(ref args) => {
            return match password(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("brook: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_log)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Planning and optimising recurse over a statement's expression tree;
        // sql::parser::MAX_OPERATORS keeps that depth bounded, and this
        // stack (virtual memory, committed only as used) holds it with room.
        .thread_stack_size(64 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("brook: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => {
                let settings = Settings::resolve(&args).map_err(|e| e.to_string())?;
                brook::server::serve(settings, shutdown_signal())
                    .await
                    .map_err(|e| e.to_string())
            }
            Command::Demo(args) => brook::demo::run(args, shutdown_signal())
                .await
                .map_err(|e| e.to_string()),
            Command::Password(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brook: {e}");
            ExitCode::FAILURE
        }
    }
}
