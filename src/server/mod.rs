//! The Postgres edge: accept loop, per-connection protocol handling, COPY,
//! and the mapping of errors to SQLSTATE codes.

pub mod auth;
pub mod block_status;
pub mod cancel;
pub mod copy;
pub mod copy_out;
pub mod errors;
pub mod handlers;
pub mod hooks;
pub mod numeric_params;
pub mod results;
pub mod session_settings;
pub mod statements;
pub mod text_params;
pub mod text_values;
pub mod tls;
pub mod transactions;
pub mod wire_guard;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pgwire::tokio::TlsAcceptor;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::Settings;
use crate::engine::Engine;
use crate::error::Result;
use crate::storage::compaction;
use auth::Access;
use handlers::BrookHandlers;

/// What the accept loop enforces before a session starts.
pub struct Admission {
    pub access: Arc<Access>,
    pub tls: Option<TlsAcceptor>,
    pub max_connections: usize,
}

impl Admission {
    /// Authentication, TLS and the connection limit from the settings; a
    /// certificate that cannot be loaded stops the server here.
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        let tls = match &settings.tls {
            Some(t) => Some(tls::acceptor(&t.cert, &t.key)?),
            None => None,
        };
        Ok(Self {
            access: Arc::new(Access::new(settings)),
            tls,
            max_connections: settings.max_connections,
        })
    }
}

/// A place in a count of connections, given back when dropped.
pub struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// Take a place; `true` when it is within `max`.
    pub fn take(count: &Arc<AtomicUsize>, max: usize) -> (Self, bool) {
        let now = count.fetch_add(1, Ordering::SeqCst) + 1;
        (Self(count.clone()), now <= max)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Connections that may be logging in at once, beyond `max_connections`.
/// A connection counts against `max_connections` only once it has
/// authenticated (as in PostgreSQL), so that sockets which never log in
/// cannot lock every user out; those are bounded here instead, and each is
/// dropped after the startup timeout.
const MAX_LOGGING_IN: usize = 256;

/// How often the compactor looks for tables with many small files.
const COMPACTION_EVERY: Duration = Duration::from_secs(10);

/// Open the data directory, bind, and serve until `shutdown` resolves.
pub async fn serve(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<()> {
    let admission = Admission::from_settings(&settings)?;
    let secrets = crate::secrets::SecretsKey::load_or_create(
        &settings.secrets_key_file,
        &settings.previous_secrets_key_files,
    )?;
    let engine = Engine::open(
        &settings.data_dir,
        settings.kafka.clone(),
        settings.memory_limit,
        settings.flush,
        std::sync::Arc::new(secrets),
    )
    .await?;
    engine
        .roles
        .set(settings.users.iter().map(|u| u.name.clone()));
    let _ = engine
        .server_file_dirs
        .set(settings.server_file_dirs.clone());
    if let Some(path) = &settings.audit_log {
        engine.audit.open(path)?;
    }
    admission.access.attach_roles(engine.roles.clone());
    admission.access.attach_audit(engine.audit.clone());
    let listener = TcpListener::bind(settings.listen).await?;
    let exporter = match settings.metrics {
        Some(addr) => Some(crate::observability::http::bind(addr).await?),
        None => None,
    };
    info!(
        listen = %listener.local_addr()?,
        data_dir = %settings.data_dir.display(),
        users = settings.users.len(),
        tls = settings.tls.is_some(),
        max_connections = settings.max_connections,
        memory_limit = settings.memory_limit.map(|b| b.to_string()).unwrap_or_else(|| "none".into()),
        "Brook is ready: psql -h {} -p {} -U brook brook",
        settings.listen.ip(),
        listener.local_addr()?.port()
    );
    run(engine, listener, admission, exporter, shutdown).await
}

/// Serve connections from `listener` until `shutdown` resolves; then stop
/// accepting, close sessions and background work, and return.
pub async fn run(
    engine: Arc<Engine>,
    listener: TcpListener,
    admission: Admission,
    exporter: Option<crate::observability::http::Exporter>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let handlers = Arc::new(BrookHandlers::new(engine.clone(), admission.access.clone()));
    let active = Arc::new(AtomicUsize::new(0));
    let logging_in = Arc::new(AtomicUsize::new(0));
    engine.resume().await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut background = JoinSet::new();
    {
        let engine = engine.clone();
        background.spawn(compaction::run(
            move || engine.catalog.all_tables(),
            COMPACTION_EVERY,
            stop_rx.clone(),
        ));
    }
    {
        let tables = engine.clone();
        background.spawn(crate::storage::flusher::run(
            move || tables.durable_tables(),
            engine.commit_log.clone(),
            engine.flush,
            stop_rx.clone(),
        ));
    }
    if let Some(exporter) = exporter {
        let (engine, active) = (engine.clone(), active.clone());
        let gauges: crate::observability::http::Gauges = Arc::new(move || {
            crate::observability::sessions_gauge(active.load(Ordering::Relaxed));
            engine.record_gauges();
        });
        background.spawn(exporter.run(gauges, stop_rx.clone()));
    }
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    let (logging_in, room) = Slot::take(&logging_in, MAX_LOGGING_IN);
                    if !room {
                        warn!(%peer, "connection dropped: {MAX_LOGGING_IN} connections are already logging in");
                        continue;
                    }
                    let handlers = handlers.connection(logging_in, active.clone(), admission.max_connections);
                    let tls = admission.tls.clone();
                    sessions.spawn(async move {
                        if let Err(e) = wire_guard::serve_connection(socket, tls, handlers).await {
                            warn!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished sessions so the set does not grow with every connection.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = &mut shutdown => break,
        }
    }
    info!(sessions = sessions.len(), "shutting down");
    let _ = stop_tx.send(true);
    // Pipelines commit the batch in hand, then stop (SPEC §1).
    engine.pipelines.shutdown().await;
    // Statements are atomic commits: a session cut off mid-statement has
    // either committed or left nothing behind.
    sessions.shutdown().await;
    while background.join_next().await.is_some() {}
    // Every commit is in the log already; flushing now only spares the
    // next start its replay.
    crate::storage::flusher::flush_all(engine.durable_tables(), &engine.commit_log).await;
    info!("stopped");
    Ok(())
}
