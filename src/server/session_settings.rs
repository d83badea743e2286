//! A session's settings with PostgreSQL's scopes: what `SET` changes lasts
//! for the session once its transaction commits, is undone by `ROLLBACK`
//! (and by `ROLLBACK TO` a savepoint set before it); `SET LOCAL` lasts to
//! the end of the transaction; `RESET` and `RESET ALL` go back to the
//! session's start (the server's defaults and the startup packet's
//! parameters); `DISCARD ALL` resets everything for the next user of a
//! pooled connection.
//!
//! The values live in the connection's metadata, where datafusion-postgres
//! reads the ones that shape its output (`datestyle`, `bytea_output`,
//! `extra_float_digits`), under the setting's lower-case name. After every
//! change [`publish`] carries them to the places that act on them: the
//! session's DataFusion context (its time zone, the schema of bare names,
//! the values `current_setting()` and `pg_table_is_visible()` read) and the client
//! (`ParameterStatus` for the settings PostgreSQL reports).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::prelude::SessionContext;
use datafusion_postgres::hooks::HookClient;
use pgwire::api::ClientInfo;
use pgwire::error::PgWireResult;
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::startup::ParameterStatus;

use super::auth::STATEMENT_TIMEOUT_KEY;
use crate::locks::lock;
use datafusion::catalog::CatalogProvider;

use crate::catalog::search_path::SearchPath;
use crate::catalog::settings::SessionSettings;
use crate::catalog::{DATABASE, pg_functions};
use crate::storage::temp_tables::TEMP_SCHEMA;

/// Metadata key of `idle_in_transaction_session_timeout`, in milliseconds
/// (read by the connection loop, server::wire_guard).
pub const IDLE_IN_TRANSACTION_KEY: &str = "idle_in_transaction_session_timeout_ms";

/// Settings PostgreSQL reports to the client when they change, with the
/// name it reports them under.
const REPORTED: &[(&str, &str)] = &[
    ("application_name", "application_name"),
    ("datestyle", "DateStyle"),
    ("intervalstyle", "IntervalStyle"),
    ("timezone", "TimeZone"),
];

/// Where a setting's session value is kept in the connection's metadata.
pub fn key(name: &str) -> &str {
    match name {
        "statement_timeout" => STATEMENT_TIMEOUT_KEY,
        "idle_in_transaction_session_timeout" => IDLE_IN_TRANSACTION_KEY,
        "time zone" => "timezone",
        other => other,
    }
}

type Values = HashMap<String, String>;

#[derive(Default)]
struct Scopes {
    /// The metadata at the session's first statement: what RESET returns to.
    startup: Option<Values>,
    /// The metadata when the open block began: what ROLLBACK restores.
    block: Option<Values>,
    /// The metadata at each savepoint of the block, oldest first.
    savepoints: Vec<(String, Values)>,
    /// Keys SET LOCAL changed, with the value (if any) they go back to when
    /// the block ends.
    local: HashMap<String, Option<String>>,
}

/// One session's scopes, kept in its pgwire session extensions.
#[derive(Default)]
pub struct SettingScopes(Mutex<Scopes>);

fn scopes(client: &dyn ClientInfo) -> Arc<SettingScopes> {
    let scopes = client
        .session_extensions()
        .get_or_insert_with(SettingScopes::default);
    {
        let mut s = lock(&scopes.0);
        if s.startup.is_none() {
            s.startup = Some(client.metadata().clone());
        }
    }
    scopes
}

/// The settings as they are now, for [`publish`] to compare against.
pub fn current(client: &dyn ClientInfo) -> Values {
    scopes(client);
    client.metadata().clone()
}

/// `BEGIN`.
pub fn begin(client: &dyn ClientInfo) {
    let scopes = scopes(client);
    let mut s = lock(&scopes.0);
    s.block = Some(client.metadata().clone());
    s.savepoints.clear();
    s.local.clear();
}

/// `SAVEPOINT name`.
pub fn savepoint(client: &dyn ClientInfo, name: &str) {
    let scopes = scopes(client);
    let mut s = lock(&scopes.0);
    if s.block.is_some() {
        s.savepoints
            .push((name.to_string(), client.metadata().clone()));
    }
}

/// `ROLLBACK TO SAVEPOINT name`: the settings as they were at it.
pub fn rollback_to(client: &mut dyn ClientInfo, name: &str) {
    let scopes = scopes(client);
    let mut s = lock(&scopes.0);
    let Some(at) = s.savepoints.iter().rposition(|(n, _)| n == name) else {
        return;
    };
    s.savepoints.truncate(at + 1);
    *client.metadata_mut() = s.savepoints[at].1.clone();
}

/// `RELEASE SAVEPOINT name`.
pub fn release(client: &dyn ClientInfo, name: &str) {
    let scopes = scopes(client);
    let mut s = lock(&scopes.0);
    if let Some(at) = s.savepoints.iter().rposition(|(n, _)| n == name) {
        s.savepoints.truncate(at);
    }
}

/// The block ended: committed, SET LOCAL values go back; rolled back (or a
/// COMMIT that failed), every setting is as it was at BEGIN.
pub fn end(client: &mut dyn ClientInfo, committed: bool) {
    let scopes = scopes(client);
    let mut s = lock(&scopes.0);
    let block = s.block.take();
    let local = std::mem::take(&mut s.local);
    s.savepoints.clear();
    let metadata = client.metadata_mut();
    match block {
        Some(at_begin) if !committed => *metadata = at_begin,
        _ => {
            for (key, before) in local {
                match before {
                    Some(value) => metadata.insert(key, value),
                    None => metadata.remove(&key),
                };
            }
        }
    }
}

/// A SET of `key` is about to be stored; `local` for SET LOCAL. `false`
/// when it must have no effect (SET LOCAL outside a block, as PostgreSQL
/// warns and ignores).
pub fn setting(client: &dyn ClientInfo, key: &str, local: bool) -> bool {
    let scopes = scopes(client);
    let mut s = lock(&scopes.0);
    if !local {
        // A later SET outlives the block's SET LOCAL of the same setting.
        s.local.remove(key);
        return true;
    }
    if s.block.is_none() {
        return false;
    }
    let before = client.metadata().get(key).cloned();
    s.local.entry(key.to_string()).or_insert(before);
    true
}

/// `RESET name`: the value the session started with.
pub fn reset(client: &mut dyn ClientInfo, key: &str) {
    let scopes = scopes(client);
    let mut s = lock(&scopes.0);
    s.local.remove(key);
    let initial = s.startup.as_ref().and_then(|v| v.get(key)).cloned();
    let metadata = client.metadata_mut();
    match initial {
        Some(value) => metadata.insert(key.to_string(), value),
        None => metadata.remove(key),
    };
}

/// `RESET ALL`: every setting as the session started.
pub fn reset_all(client: &mut dyn ClientInfo) {
    let scopes = scopes(client);
    let mut s = lock(&scopes.0);
    s.local.clear();
    if let Some(initial) = s.startup.clone() {
        *client.metadata_mut() = initial;
    }
}

/// A setting's value in this session, as SHOW and `current_setting()`
/// report it.
pub fn value(metadata: &Values, name: &str) -> Option<String> {
    match name {
        "statement_timeout" | "idle_in_transaction_session_timeout" => Some(
            metadata
                .get(key(name))
                .map_or("0".to_string(), |ms| format!("{ms}ms")),
        ),
        _ => metadata
            .get(key(name))
            .cloned()
            .or_else(|| pg_functions::setting(name).map(str::to_string)),
    }
}

/// Names in the metadata that are not settings.
fn is_setting(key: &str) -> bool {
    !matches!(key, "user" | "database" | "options" | "replication")
}

/// Install the session's settings, as its client's `metadata` holds them,
/// where queries and statements read them (`catalog::settings`): at login
/// (so that `current_user` names the role from the first statement on)
/// and after every change.
pub fn install(ctx: &SessionContext, metadata: &HashMap<String, String>) {
    let mut settings = SessionSettings::default();
    for (k, _) in metadata.iter().filter(|(k, _)| is_setting(k)) {
        let name = match k.as_str() {
            STATEMENT_TIMEOUT_KEY => "statement_timeout",
            IDLE_IN_TRANSACTION_KEY => "idle_in_transaction_session_timeout",
            other => other,
        };
        if let Some(v) = value(metadata, name) {
            settings.values.insert(name.to_lowercase(), v);
        }
    }
    let user = metadata.get("user").cloned().unwrap_or_default();
    settings
        .values
        .insert("session_authorization".to_string(), user.clone());
    // `is_superuser` as PostgreSQL reports it: of the current role.
    let privileges = ctx
        .state()
        .config()
        .get_extension::<crate::catalog::privileges::Privileges>();
    if let Some(privileges) = privileges {
        let current = settings
            .values
            .get("role")
            .filter(|r| !r.eq_ignore_ascii_case("none"))
            .cloned()
            .unwrap_or(user);
        let superuser = privileges.identity(&current).superuser;
        settings.values.insert(
            "is_superuser".to_string(),
            if superuser { "on" } else { "off" }.to_string(),
        );
    }
    let zone = metadata
        .get("timezone")
        .cloned()
        .unwrap_or_else(|| "UTC".to_string());
    let path = ctx
        .catalog(DATABASE)
        .map(|catalog| search_path(catalog, metadata));
    if let Some(path) = &path {
        settings.current_schema = path.current().map(str::to_string);
        settings.path = path.schemas(false);
    }
    {
        let state = ctx.state_ref();
        let mut state = state.write();
        let options = state.config_mut().options_mut();
        settings.replaced_options = apply_datafusion_options(options, metadata);
        options.execution.time_zone = Some(zone);
        if let Some(path) = &path {
            options.catalog.default_schema = path.default_schema();
        }
        options.extensions.insert(settings);
    }
}

/// Carry the session's settings to what acts on them, and report to the
/// client those PostgreSQL reports that differ from `before`.
pub async fn publish(
    ctx: &SessionContext,
    client: &mut dyn HookClient,
    before: &Values,
) -> PgWireResult<()> {
    let metadata = client.metadata().clone();
    install(ctx, &metadata);
    for (name, reported) in REPORTED {
        let now = value(&metadata, name);
        if now != value(before, name) {
            client
                .send_message(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    reported.to_string(),
                    now.unwrap_or_default(),
                )))
                .await?;
        }
    }
    Ok(())
}

/// Set the session's `datafusion.*` options in `options` as `metadata`
/// holds them, and put back the value each had before for those it no
/// longer holds (a SET undone by ROLLBACK, RESET). Returns what the next
/// call needs to do that.
fn apply_datafusion_options(
    options: &mut datafusion::config::ConfigOptions,
    metadata: &Values,
) -> std::collections::BTreeMap<String, Option<String>> {
    let mut replaced = crate::catalog::settings::of(options)
        .map(|s| s.replaced_options.clone())
        .unwrap_or_default();
    let set: HashMap<&String, &String> = metadata
        .iter()
        .filter(|(k, _)| k.starts_with("datafusion."))
        .collect();
    replaced.retain(|key, original| {
        if set.contains_key(key) {
            return true;
        }
        let restored = match original {
            Some(value) => options.set(key, value),
            None => Ok(()),
        };
        if let Err(e) = restored {
            tracing::warn!(option = %key, error = %e, "could not restore a DataFusion option");
        }
        false
    });
    for (key, value) in set {
        if !replaced.contains_key(key) {
            let original = options
                .entries()
                .into_iter()
                .find(|e| &e.key == key)
                .and_then(|e| e.value);
            replaced.insert(key.clone(), original);
        }
        if let Err(e) = options.set(key, value) {
            tracing::warn!(option = %key, error = %e, "a DataFusion option the session set no longer applies");
        }
    }
    replaced
}

/// The session's search path (`metadata` is its connection's) over the
/// schemas of `catalog` as they are now.
pub fn search_path(catalog: Arc<dyn CatalogProvider>, metadata: &Values) -> SearchPath {
    let user = metadata.get("user").map(String::as_str).unwrap_or_default();
    let path = value(metadata, "search_path").unwrap_or_default();
    SearchPath::new(catalog, &path, user)
}

/// The session's search path when it is not the default one: bare names
/// in its statements must then be written out (catalog::search_path).
pub fn nondefault_search_path(
    catalog: Option<Arc<dyn CatalogProvider>>,
    client: &dyn ClientInfo,
) -> Option<SearchPath> {
    let metadata = client.metadata();
    let catalog = catalog?;
    // The common case costs two lookups: no path SET, no temporary table.
    if !metadata.contains_key("search_path")
        && catalog
            .schema(TEMP_SCHEMA)
            .is_none_or(|t| t.table_names().is_empty())
    {
        return None;
    }
    let path = search_path(catalog, metadata);
    (!path.is_default()).then_some(path)
}
