//! Who is connected and what they run: `information_schema.sessions`
//! (PostgreSQL's `pg_stat_activity`, with its column names) and
//! `pg_cancel_backend(pid)`, which cancels a session's running statement the
//! way a protocol CancelRequest does (SQLSTATE 57014 in that session).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::cast::as_int64_array;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, TypeSignature, Volatility};
use pgwire::api::ConnectionHandle;

use crate::catalog::roles::Roles;
use crate::catalog::system_table::{SystemTable, ViewerRowSource, micros, timestamp_type};
use datafusion::common::config::ConfigOptions;

/// What one session is doing now.
#[derive(Debug, Clone)]
struct Activity {
    state: &'static str,
    query: String,
    query_start: Option<SystemTime>,
}

/// One connected session.
pub struct Session {
    pid: i32,
    user: String,
    application_name: String,
    client_addr: SocketAddr,
    backend_start: SystemTime,
    activity: Mutex<Activity>,
    handle: Arc<ConnectionHandle>,
    /// `pg_cancel_backend` asked to cancel the running statement; read when
    /// the statement arms its cancel signal for streaming, so a request that
    /// lands between two arms is not lost.
    cancel_requested: AtomicBool,
}

impl Session {
    /// The session starts running `query` (shown with its passwords hidden).
    pub fn started(&self, query: &str) {
        self.cancel_requested.store(false, Ordering::SeqCst);
        if let Ok(mut a) = self.activity.lock() {
            a.state = "active";
            a.query = super::redact::secrets_hidden(query);
            a.query_start = Some(SystemTime::now());
        }
    }

    /// Whether a cancel was requested for the running statement (and forget
    /// the request).
    pub fn take_cancel_request(&self) -> bool {
        self.cancel_requested.swap(false, Ordering::SeqCst)
    }

    /// The session's statement ended; `query` keeps showing the last one, as
    /// in PostgreSQL.
    pub fn finished(&self) {
        if let Ok(mut a) = self.activity.lock() {
            a.state = "idle";
        }
    }
}

/// Every session of the server, by backend pid.
#[derive(Default)]
pub struct Sessions {
    by_pid: RwLock<BTreeMap<i32, Arc<Session>>>,
}

/// Removes its session from the registry when the connection ends.
pub struct Registered {
    sessions: Arc<Sessions>,
    pub session: Arc<Session>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut map) = self.sessions.by_pid.write() {
            map.remove(&self.session.pid);
        }
    }
}

impl Sessions {
    pub fn register(
        self: &Arc<Self>,
        pid: i32,
        user: &str,
        application_name: &str,
        client_addr: SocketAddr,
        handle: Arc<ConnectionHandle>,
    ) -> Registered {
        let session = Arc::new(Session {
            pid,
            user: user.to_string(),
            application_name: application_name.to_string(),
            client_addr,
            backend_start: SystemTime::now(),
            activity: Mutex::new(Activity {
                state: "idle",
                query: String::new(),
                query_start: None,
            }),
            handle,
            cancel_requested: AtomicBool::new(false),
        });
        if let Ok(mut map) = self.by_pid.write() {
            map.insert(pid, session.clone());
        }
        Registered {
            sessions: self.clone(),
            session,
        }
    }

    /// The role session `pid` logged in as.
    pub fn user_of(&self, pid: i32) -> Option<String> {
        let map = self.by_pid.read().ok()?;
        map.get(&pid).map(|s| s.user.clone())
    }

    /// How many sessions `user` has open (`CONNECTION LIMIT`).
    pub fn count_of(&self, user: &str) -> usize {
        self.by_pid
            .read()
            .map(|m| m.values().filter(|s| s.user == user).count())
            .unwrap_or(0)
    }

    fn all(&self) -> Vec<Arc<Session>> {
        self.by_pid
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Cancel session `pid`'s running statement; false if there is no such
    /// session.
    pub fn cancel(&self, pid: i32) -> bool {
        let Some(session) = self.by_pid.read().ok().and_then(|m| m.get(&pid).cloned()) else {
            return false;
        };
        session.cancel_requested.store(true, Ordering::SeqCst);
        let handle = session.handle.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { handle.cancel().await });
                true
            }
            Err(_) => false,
        }
    }
}

/// `information_schema.sessions (pid, usename, application_name,
/// client_addr, client_port, backend_start, query_start, state, query)`.
/// The statement text of another role's session is shown to superusers
/// only (`<insufficient privilege>` to others), as `pg_stat_activity` does.
pub fn table(sessions: Arc<Sessions>, roles: Roles) -> SystemTable {
    let time = timestamp_type;
    let schema = Arc::new(Schema::new(vec![
        Field::new("pid", DataType::Int32, false),
        Field::new("datname", DataType::Utf8, false),
        Field::new("usename", DataType::Utf8, false),
        Field::new("application_name", DataType::Utf8, false),
        Field::new("client_addr", DataType::Utf8, false),
        Field::new("client_port", DataType::Int32, false),
        Field::new("backend_start", time(), false),
        Field::new("query_start", time(), true),
        Field::new("state", DataType::Utf8, false),
        Field::new("query", DataType::Utf8, false),
    ]));
    let s = schema.clone();
    let rows: ViewerRowSource = Arc::new(move |viewer: &str| {
        let sees_all = roles.is_superuser(viewer);
        let mut pid = Int32Builder::new();
        let mut datname = StringBuilder::new();
        let mut user = StringBuilder::new();
        let mut app = StringBuilder::new();
        let mut addr = StringBuilder::new();
        let mut port = Int32Builder::new();
        let mut start = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let mut query_start = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let mut state = StringBuilder::new();
        let mut query = StringBuilder::new();
        for session in sessions.all() {
            let activity = session
                .activity
                .lock()
                .map(|a| a.clone())
                .unwrap_or(Activity {
                    state: "unknown",
                    query: String::new(),
                    query_start: None,
                });
            pid.append_value(session.pid);
            datname.append_value(crate::catalog::DATABASE);
            user.append_value(&session.user);
            app.append_value(&session.application_name);
            addr.append_value(session.client_addr.ip().to_string());
            port.append_value(i32::from(session.client_addr.port()));
            start.append_value(micros(session.backend_start));
            query_start.append_option(activity.query_start.map(micros));
            state.append_value(activity.state);
            if sees_all || session.user == viewer {
                query.append_value(&activity.query);
            } else {
                query.append_value("<insufficient privilege>");
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(pid.finish()),
            Arc::new(datname.finish()),
            Arc::new(user.finish()),
            Arc::new(app.finish()),
            Arc::new(addr.finish()),
            Arc::new(port.finish()),
            Arc::new(start.finish()),
            Arc::new(query_start.finish()),
            Arc::new(state.finish()),
            Arc::new(query.finish()),
        ];
        Ok(RecordBatch::try_new(s.clone(), columns)?)
    });
    SystemTable::for_viewer(schema, rows)
}

/// `pg_cancel_backend(pid)`: true when the session exists (its running
/// statement, if any, ends with 57014), false otherwise, as in PostgreSQL.
/// Another role's session may be cancelled by a role with its privileges
/// or with `pg_signal_backend`'s, a superuser's by a superuser only (42501
/// otherwise), as in PostgreSQL.
pub fn pg_cancel_backend(sessions: Arc<Sessions>, roles: Roles) -> ScalarUDF {
    let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let Some(pids) = arrays.first() else {
            return Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(Vec::<
                bool,
            >::new(
            )))));
        };
        let me = crate::catalog::settings::session_role(config);
        let superuser = roles.is_superuser(&me);
        let signaller = roles.has_privileges_of(&me, crate::catalog::roles::SIGNAL_BACKEND);
        let pids = datafusion::arrow::compute::cast(pids, &DataType::Int64)?;
        let pids: Vec<Option<i32>> = as_int64_array(&pids)?
            .iter()
            .map(|pid| pid.map(|pid| i32::try_from(pid).unwrap_or(-1)))
            .collect();
        for pid in pids.iter().flatten() {
            // PostgreSQL's rule: a role cancels the queries of roles whose
            // privileges it has; pg_signal_backend, any but a superuser's;
            // a superuser's, only a superuser.
            if let Some(owner) = sessions.user_of(*pid) {
                let allowed = superuser
                    || (!roles.is_superuser(&owner)
                        && (signaller || roles.has_privileges_of(&me, &owner)));
                if !allowed {
                    return Err(crate::error::external(
                        crate::error::BrookError::NotAllowed(
                            "permission denied to cancel query".into(),
                        ),
                    ));
                }
            }
        }
        let answers: BooleanArray = pids
            .iter()
            .map(|pid| pid.map(|pid| sessions.cancel(pid)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(answers) as ArrayRef))
    };
    // A pid typed as a literal is an Int64 to DataFusion.
    crate::catalog::settings::with_session(
        "pg_cancel_backend",
        Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Int32]),
                TypeSignature::Exact(vec![DataType::Int64]),
            ],
            Volatility::Volatile,
        ),
        DataType::Boolean,
        Arc::new(function),
    )
}
