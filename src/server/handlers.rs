//! The pgwire handler set: datafusion-postgres' query service with Brook's
//! statement hook in front, plus COPY, cancel, startup and the SQLSTATE funnel.

use std::sync::Arc;

use datafusion_postgres::DfSessionService;
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ErrorHandler, PgWireServerHandlers};

use super::auth::{Access, BrookStartup};
use super::cancel::{CancelRequests, Cancellable};
use super::copy::CopyIn;
use super::errors::SqlStateErrors;
use super::hooks::{BrookStatements, Cursors, DmlTags, PreparedStatements, Savepoints, Show};
use crate::engine::Engine;
use crate::observability::sessions::Sessions;

/// Everything a connection needs, shared by all connections.
pub struct BrookHandlers {
    service: Arc<Cancellable>,
    access: Arc<Access>,
    copy: Arc<CopyIn>,
    cancel: Arc<CancelRequests>,
    sessions: Arc<Sessions>,
}

impl BrookHandlers {
    pub fn new(engine: Arc<Engine>, access: Arc<Access>) -> Self {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(BrookStatements::new(engine.clone())),
            Arc::new(Show),
            Arc::new(DmlTags::new(engine.clone(), access.notice_interval)),
            Arc::new(Cursors),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(Savepoints),
            Arc::new(PreparedStatements),
            Arc::new(TransactionStatementHook),
        ];
        let connections = access.connections.clone();
        Self {
            service: Arc::new(Cancellable::new(
                Arc::new(DfSessionService::new_with_hooks(engine.ctx.clone(), hooks)),
                engine.clone(),
            )),
            access,
            sessions: engine.sessions.clone(),
            cancel: Arc::new(CancelRequests::new(connections, engine.sessions.clone())),
            copy: Arc::new(CopyIn::new(engine)),
        }
    }
}

/// One connection's view of the handlers: the shared ones, and a startup
/// handler of its own (it holds the connection's authentication state).
pub struct ConnectionHandlers {
    pub shared: Arc<BrookHandlers>,
    /// False when the connection arrived over the connection limit.
    pub admitted: bool,
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.shared.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.shared.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(BrookStartup::new(
            self.shared.access.clone(),
            self.shared.sessions.clone(),
            self.admitted,
        ))
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        self.shared.copy.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.shared.cancel.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }
}
