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

use std::sync::atomic::AtomicUsize;

use super::Slot;
use super::auth::{Access, Admission, BrookStartup};
use super::cancel::{CancelRequests, Cancellable};
use super::copy::CopyIn;
use super::errors::SqlStateErrors;
use super::hooks::{
    BrookStatements, Cursors, DmlReturning, DmlTags, IdentityColumns, PreparedStatements, Queries,
    Settings, Show, TempTableStatements, Upserts,
};
use super::transactions::Transactions;
use crate::engine::Engine;
use crate::observability::sessions::Sessions;
use crate::storage::transaction::SessionTransaction;

/// Everything a connection needs, shared by all connections.
pub struct BrookHandlers {
    engine: Arc<Engine>,
    hooks: Vec<Arc<dyn QueryHook>>,
    access: Arc<Access>,
    copy: Arc<CopyIn>,
    cancel: Arc<CancelRequests>,
    sessions: Arc<Sessions>,
}

impl BrookHandlers {
    pub fn new(engine: Arc<Engine>, access: Arc<Access>) -> Self {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(Transactions::new(engine.clone())),
            Arc::new(TempTableStatements),
            Arc::new(BrookStatements::new(engine.clone())),
            Arc::new(Show),
            Arc::new(IdentityColumns::new(engine.clone())),
            Arc::new(Upserts::new(engine.clone())),
            Arc::new(DmlReturning::new(engine.clone())),
            Arc::new(DmlTags::new(access.notice_interval)),
            Arc::new(Cursors),
            Arc::new(CursorStatementHook),
            Arc::new(Settings),
            Arc::new(SetShowHook),
            Arc::new(PreparedStatements),
            Arc::new(TransactionStatementHook),
            // Last: the queries no other hook answered.
            Arc::new(Queries),
        ];
        let connections = access.connections.clone();
        Self {
            hooks,
            access,
            sessions: engine.sessions.clone(),
            cancel: Arc::new(CancelRequests::new(connections, engine.sessions.clone())),
            copy: Arc::new(CopyIn::new(engine.clone())),
            engine,
        }
    }

    /// The handlers of one new connection. Each has a DataFusion context of
    /// its own over the shared catalog and runtime, so that what a session
    /// SETs (its time zone, DataFusion's execution options) stays its own.
    /// `logging_in` is the connection's place among those not yet logged
    /// in; it gives it up for a place in `active` (at most `max`) when it
    /// has authenticated.
    pub fn connection(
        self: &Arc<Self>,
        logging_in: Slot,
        active: Arc<AtomicUsize>,
        max: usize,
    ) -> ConnectionHandlers {
        let ctx = Arc::new(self.engine.session_context());
        let transaction =
            SessionTransaction::of(ctx.state_ref().read().config()).unwrap_or_default();
        let service = DfSessionService::new_with_hooks(ctx.clone(), self.hooks.clone());
        ConnectionHandlers {
            service: Arc::new(Cancellable::new(
                Arc::new(service),
                self.engine.clone(),
                ctx.clone(),
                transaction,
            )),
            startup: Arc::new(BrookStartup::new(
                self.access.clone(),
                self.sessions.clone(),
                Admission {
                    logging_in,
                    active,
                    max,
                },
                ctx.clone(),
            )),
            shared: self.clone(),
        }
    }
}

/// One connection's view of the handlers: the shared ones, its own query
/// service, and a startup handler of its own (it holds the connection's
/// authentication state).
pub struct ConnectionHandlers {
    shared: Arc<BrookHandlers>,
    service: Arc<Cancellable>,
    startup: Arc<BrookStartup>,
}

impl PgWireServerHandlers for ConnectionHandlers {
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
        self.shared.copy.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.shared.cancel.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }
}
