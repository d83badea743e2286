//! The Postgres edge: accept loop, per-connection protocol handling, COPY,
//! and the mapping of errors to SQLSTATE codes.

pub mod cancel;
pub mod copy;
pub mod errors;
pub mod extensions;
pub mod handlers;
pub mod hooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::Settings;
use crate::engine::Engine;
use crate::error::Result;
use crate::storage::compaction;
use handlers::BrookHandlers;

/// How often the compactor looks for tables with many small files.
const COMPACTION_EVERY: Duration = Duration::from_secs(10);

/// Open the data directory, bind, and serve until `shutdown` resolves.
pub async fn serve(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<()> {
    let engine = Engine::open(&settings.data_dir, settings.kafka.clone()).await?;
    let listener = TcpListener::bind(settings.listen).await?;
    info!(
        listen = %listener.local_addr()?,
        data_dir = %settings.data_dir.display(),
        "Brook is ready: psql -h {} -p {} -U brook brook",
        settings.listen.ip(),
        listener.local_addr()?.port()
    );
    run(engine, listener, shutdown).await
}

/// Serve connections from `listener` until `shutdown` resolves; then stop
/// accepting, close sessions and background work, and return.
pub async fn run(
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let handlers = Arc::new(BrookHandlers::new(engine.clone()));
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
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    let handlers = handlers.clone();
                    sessions.spawn(async move {
                        if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
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
    info!("stopped");
    Ok(())
}
