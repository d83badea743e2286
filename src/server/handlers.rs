//! The pgwire handler set: datafusion-postgres' query service with Brook's
//! statement hook in front, plus COPY, cancel, startup and the SQLSTATE funnel.

use std::sync::Arc;

use datafusion_postgres::DfSessionService;
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use pgwire::api::auth::StartupHandler;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::copy::CopyHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ConnectionManager, ErrorHandler, PgWireServerHandlers};

use super::cancel::Cancellable;
use super::copy::CopyIn;
use super::errors::SqlStateErrors;
use super::hooks::{BrookStatements, DmlTags, ServerVersion};
use crate::engine::Engine;

/// `trust` authentication (loopback only, enforced by `Settings`), with every
/// connection registered so that cancel requests can find it.
pub struct TrustStartup {
    connections: Arc<ConnectionManager>,
}

impl NoopStartupHandler for TrustStartup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// Everything a connection needs, shared by all connections.
pub struct BrookHandlers {
    service: Arc<Cancellable>,
    startup: Arc<TrustStartup>,
    copy: Arc<CopyIn>,
    cancel: Arc<DefaultCancelHandler>,
}

impl BrookHandlers {
    pub fn new(engine: Arc<Engine>) -> Self {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(BrookStatements::new(engine.clone())),
            Arc::new(ServerVersion),
            Arc::new(DmlTags::new(engine.clone())),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let connections = Arc::new(ConnectionManager::new());
        Self {
            service: Arc::new(Cancellable::new(
                Arc::new(DfSessionService::new_with_hooks(engine.ctx.clone(), hooks)),
                engine.clone(),
            )),
            startup: Arc::new(TrustStartup {
                connections: connections.clone(),
            }),
            copy: Arc::new(CopyIn::new(engine)),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        }
    }
}

impl PgWireServerHandlers for BrookHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        self.copy.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }
}
