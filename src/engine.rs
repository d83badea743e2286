//! The engine every session shares: one DataFusion context, the durable catalog,
//! and the Postgres compatibility functions clients probe at connect time.
//!
//! This is the one place that wires Brook's modules together. It opens the
//! catalog, the models and the pipelines, hands each subsystem a narrow
//! context of what it needs ([`PipelineContext`], [`ModelContext`]) rather
//! than the engine itself, and registers every system table, so that
//! imports run one way: `server → sql → engine → {ml, pipeline} → catalog →
//! storage`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::num::NonZeroUsize;

use datafusion::catalog::TableProvider;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;

use crate::catalog::privileges::Privileges;
use crate::catalog::privileges::plan_check::PrivilegeCheck;
use crate::catalog::roles::Roles;
use crate::catalog::sequences::{Sequences, SessionSequences};
use crate::catalog::session_catalog::SessionCatalogs;
use crate::catalog::{
    Catalog, DATABASE, DEFAULT_SCHEMA, QualifiedName, information_schema, pg_functions, pg_json,
    pg_overlay, pg_text_casts,
};
use crate::error::{BrookError, Result};
use crate::ml::{ModelContext, Models, PipelineOffsets};
use crate::observability::audit::AuditLog;
use crate::observability::sessions::{self, Sessions};
use crate::pipeline::status::State;
use crate::pipeline::system_tables::{self, Listing};
use crate::pipeline::{PipelineContext, Pipelines};
use crate::semantics;
use crate::storage::DurableTable;
use crate::storage::commit::CommitLog;
use crate::storage::flusher::FlushPolicy;
use crate::storage::temp_tables::TempTables;
use crate::storage::transaction::SessionTransaction;

/// The shared state of a running Brook: query engine and catalog.
pub struct Engine {
    pub ctx: Arc<SessionContext>,
    pub catalog: Arc<Catalog>,
    pub pipelines: Arc<Pipelines>,
    pub models: Models,
    /// What training and refresh need (the models' view of the server).
    pub model_context: ModelContext,
    /// The connected sessions (`information_schema.sessions`).
    pub sessions: Arc<Sessions>,
    /// What `pg_roles` lists (the server sets its users).
    pub roles: Roles,
    pub data_dir: PathBuf,
    /// The write-ahead log every table commits through.
    pub commit_log: CommitLog,
    /// When the flusher writes memtables to Delta.
    pub flush: FlushPolicy,
    /// `CREATE SEQUENCE`, `serial` and identity columns.
    pub sequences: Arc<Sequences>,
    /// The directories SQL may reach server files in (the server sets
    /// them from its configuration; unset: `<data_dir>/import`).
    pub server_file_dirs: std::sync::OnceLock<Vec<PathBuf>>,
    /// Logins and the statements that change what the server is
    /// (`information_schema.audit_log`); the server opens its file.
    pub audit: AuditLog,
}

/// The directory under the data directory that server-file access opens
/// to SQL when the configuration names none.
pub const IMPORT_DIR: &str = "import";

impl Engine {
    /// Open (or initialise) the data directory and restore every table and view.
    /// `kafka` is the server's default broker list (`--kafka`);
    /// `memory_limit` bounds the memory of all running queries together.
    pub async fn open(
        data_dir: &Path,
        kafka: Option<String>,
        memory_limit: Option<usize>,
        flush: FlushPolicy,
        secrets: Arc<crate::secrets::SecretsKey>,
    ) -> Result<Arc<Self>> {
        let config = SessionConfig::new()
            // Brook defines information_schema itself (catalog::information_schema).
            .with_information_schema(false)
            .with_create_default_catalog_and_schema(true)
            .with_default_catalog_and_schema(DATABASE, DEFAULT_SCHEMA)
            // Tables declare text columns as Utf8 (the type Delta stores); reading
            // Parquet strings as Utf8View would make a scan's type differ from
            // its table's.
            .set_bool(
                "datafusion.execution.parquet.schema_force_view_types",
                false,
            )
            // Statements that reach DataFusion's own parser (DataFrame SQL,
            // view bodies) read as PostgreSQL does: `^` is power, `#` xor.
            .set_str("datafusion.sql_parser.dialect", "postgresql")
            // `0.1` is numeric in PostgreSQL, exact: `0.1 + 0.2 = 0.3` is
            // true. Read as double precision it was false (and `1.1 * 3`
            // answered 3.3000000000000003).
            .set_bool("datafusion.sql_parser.parse_float_as_decimal", true)
            // A session's TimeZone until it sets one: `timestamptz` values
            // carry a zone (without one they were sent as `timestamp`, and
            // drivers handed back naive datetimes).
            .set_str("datafusion.execution.time_zone", "UTC");
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime(memory_limit)?)
            .with_default_features()
            .build();
        let roles = Roles::default();
        roles.open(data_dir)?;
        let privileges = Privileges::new(roles.clone());
        let state = semantics::install(state);
        // The privilege check first: it reads and removes the views'
        // boundaries before any other rule sees the plan.
        let mut rules: Vec<Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>> =
            vec![Arc::new(PrivilegeCheck::new(privileges.clone()))];
        rules.extend(state.analyzer().rules.iter().cloned());
        let state = SessionStateBuilder::new_from_existing(state)
            .with_analyzer_rules(rules)
            .build();
        let ctx = Arc::new(SessionContext::new_with_state(state));
        setup_pg_catalog(&ctx, DATABASE, roles.clone())
            .map_err(|e| BrookError::CatalogCorrupt(format!("pg_catalog: {e}")))?;
        let overlay = pg_overlay::install(&ctx, roles.clone())?;
        pg_functions::register(&ctx);
        crate::catalog::pg_acl::register(&ctx, roles.clone());
        crate::catalog::privileges::functions::register(&ctx, privileges.clone());
        pg_json::register(&ctx);
        pg_text_casts::register(&ctx);
        ctx.add_analyzer_rule(Arc::new(crate::catalog::declared_types::TypeofDeclared));
        information_schema::register(&ctx).await?;
        pg_overlay::register_views(&ctx).await?;
        // Models first: a view may call PREDICT or EVALUATE.
        let models = Models::open(data_dir)?;
        models.register(&ctx);
        // Before the catalog: a restored view may read information_schema.models.
        information_schema::add_table(
            &ctx,
            "models",
            Arc::new(crate::ml::system_table::models(models.registry.clone())),
        )?;
        // Before the catalog: a column's DEFAULT may call nextval.
        let sequences = Arc::new(Sequences::open(data_dir)?);
        for udf in crate::catalog::sequences::udfs(sequences.clone()) {
            ctx.register_udf(udf);
        }
        information_schema::add_table(
            &ctx,
            "table_privileges",
            Arc::new(crate::catalog::privileges::table_privileges::table(
                privileges.clone(),
            )),
        )?;
        ctx.register_table(
            "pg_catalog.pg_policies",
            Arc::new(crate::catalog::privileges::policies_table::table(
                privileges.clone(),
            )),
        )?;
        let catalog = Arc::new(Catalog::open(data_dir, ctx.clone(), privileges.clone()).await?);
        overlay.attach(catalog.clone());
        models
            .registry
            .attach_privileges(catalog.privileges().clone());
        let pipelines = Arc::new(
            Pipelines::open(
                data_dir,
                PipelineContext {
                    ctx: ctx.clone(),
                    catalog: catalog.clone(),
                    default_brokers: kafka,
                    secrets,
                },
            )
            .await?,
        );
        // Every table is open: put what the log holds beyond their Delta
        // logs back into their memtables before anything reads or writes.
        let mut tables = catalog.all_tables();
        tables.push(pipelines.error_log().table().clone());
        let (commit_log, records) =
            crate::storage::recovery::open(data_dir, &tables, catalog.lsn().await).await?;
        // Schema changes a transaction committed that the catalog file
        // missed (a stop between the log record and the file) first, so
        // that the tables they create are there for their rows.
        for (lsn, record) in &records {
            if let Some(changes) = &record.catalog {
                catalog.replay_changes(*lsn, changes).await?;
            }
        }
        let mut tables = catalog.all_tables();
        tables.push(pipelines.error_log().table().clone());
        crate::storage::recovery::replay(&commit_log, &records, &tables).await?;
        catalog.set_commit_log(commit_log.clone());
        // Sequences of serial columns whose table is gone (a transaction
        // that created it never committed).
        sequences.drop_orphans(|owner| catalog.table(owner).is_some())?;
        let model_context = ModelContext {
            ctx: ctx.clone(),
            catalog: catalog.clone(),
            registry: models.registry.clone(),
            offsets: Arc::new(LoadedOffsets(pipelines.listing())),
        };
        let sessions = Arc::new(Sessions::default());
        let audit = AuditLog::default();
        register_system_tables(
            &ctx,
            &pipelines,
            &sessions,
            &audit,
            roles.clone(),
            catalog.privileges().clone(),
        )?;
        Ok(Arc::new(Self {
            ctx,
            catalog,
            pipelines,
            models,
            model_context,
            sessions,
            roles,
            data_dir: data_dir.to_path_buf(),
            commit_log,
            flush,
            sequences,
            server_file_dirs: std::sync::OnceLock::new(),
            audit,
        }))
    }

    /// The directories SQL may reach server files in.
    pub fn server_file_dirs(&self) -> Vec<PathBuf> {
        match self.server_file_dirs.get() {
            Some(dirs) => dirs.clone(),
            None => vec![self.data_dir.join(IMPORT_DIR)],
        }
    }

    /// What role `oid` owns outside the catalog's tables, views and schemas
    /// (its pipelines), as DROP ROLE's DETAIL names them.
    pub fn owned_beyond_catalog(&self, oid: i32) -> Vec<String> {
        let listing = self.pipelines.listing();
        let listing = match listing.read() {
            Ok(map) => map.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        listing
            .values()
            .filter(|(def, _)| def.owner == oid)
            .map(|(def, _)| format!("owner of pipeline {}", def.name))
            .collect()
    }

    /// COMMIT `slot`'s open transaction, schema changes and rows together,
    /// then what hangs on the tables it changed outside the catalog: the
    /// sequences a table's columns own follow an `ALTER TABLE` (rename,
    /// dropped column) and go with a dropped table.
    pub async fn commit(&self, slot: &SessionTransaction) -> Result<()> {
        let committed = self.catalog.commit(slot).await?;
        for moved in &committed.moved {
            if let Err(e) = self.sequences.follow(moved) {
                tracing::warn!(table = %moved.to, error = %e, "sequences of an altered table keep their old owner");
            }
        }
        // Unless one of the same name, created after the drop, owns them.
        for table in &committed.dropped {
            if self.catalog.table(table).is_none()
                && let Err(e) = self.sequences.drop_owned_by(table)
            {
                tracing::warn!(table = %table, error = %e, "sequences of a dropped table remain");
            }
        }
        Ok(())
    }

    /// Every table whose commits go through the log: the catalog's and the
    /// pipelines' error log.
    pub fn durable_tables(&self) -> Vec<DurableTable> {
        let mut tables = self.catalog.all_tables();
        tables.push(self.pipelines.error_log().table().clone());
        tables
    }

    /// A context for one session: the shared catalog, functions and runtime
    /// (memory pool) with a copy of the configuration, so that a session's
    /// SET changes its own options only.
    pub fn session_context(&self) -> SessionContext {
        let state = self.ctx.state();
        // The session's temporary tables, in a catalog view of its own.
        let temp = Arc::new(TempTables::default());
        let transaction = Arc::new(SessionTransaction::default());
        let shared = state.catalog_list().clone();
        let catalogs = Arc::new(SessionCatalogs::new(
            shared.clone(),
            temp.clone(),
            transaction.clone(),
        ));
        let mut state = SessionStateBuilder::new_from_existing(state)
            .with_catalog_list(catalogs)
            .build();
        // The session's transaction: tables find it where their scans and
        // writes are planned (storage::transaction).
        state.config_mut().set_extension(transaction.clone());
        state.config_mut().set_extension(temp.clone());
        // SET ROLE checks memberships where the session's hooks reach it.
        state
            .config_mut()
            .set_extension(Arc::new(self.catalog.privileges().clone()));
        // What currval and lastval remember for this session.
        state
            .config_mut()
            .options_mut()
            .extensions
            .insert(SessionSequences::default());
        let ctx = SessionContext::new_with_state(state);
        // What its pg_catalog shows of its own: temporary tables, the
        // transaction's schema changes.
        crate::catalog::pg_overlay::SessionRelations::install(&ctx, shared, temp, transaction);
        ctx
    }

    /// Start background work that needs the whole engine: pipelines that
    /// were running before the restart run again.
    pub async fn resume(self: &Arc<Self>) {
        crate::ml::refresh::resume(&self.model_context, &self.models);
        self.pipelines.resume().await;
    }

    /// Set the gauges that describe the present (each pipeline's lag and
    /// whether it runs), at the moment of a metrics scrape.
    pub fn record_gauges(&self) {
        let listing = self.pipelines.listing();
        let Ok(listing) = listing.read() else {
            return;
        };
        for (name, (_, status)) in listing.iter() {
            let snapshot = status.snapshot();
            let lag: i64 = snapshot.cursors.values().filter_map(|c| c.lag()).sum();
            crate::observability::pipeline_gauges(name, lag, snapshot.state == State::Running);
        }
    }
}

/// Brook's system tables in `information_schema` (SPEC §2) that views cannot
/// name at restore time: the pipelines' status and kept errors, the
/// sessions (`models` is registered before the catalog opens); and
/// `pg_cancel_backend(pid)`, which reaches the sessions.
fn register_system_tables(
    ctx: &SessionContext,
    pipelines: &Pipelines,
    sessions: &Arc<Sessions>,
    audit: &AuditLog,
    roles: Roles,
    privileges: Privileges,
) -> Result<()> {
    let listing = pipelines.listing();
    let tables: Vec<(&str, Arc<dyn TableProvider>)> = vec![
        (
            "pipelines",
            Arc::new(system_tables::pipelines(
                listing.clone(),
                privileges.clone(),
            )),
        ),
        (
            "pipelines_cursors",
            Arc::new(system_tables::cursors(listing.clone(), privileges.clone())),
        ),
        (
            "pipelines_batches_summary",
            Arc::new(system_tables::batches(listing, privileges)),
        ),
        (
            "pipelines_errors",
            Arc::new(pipelines.error_log().table().clone()),
        ),
        (
            "sessions",
            Arc::new(sessions::table(sessions.clone(), roles.clone())),
        ),
        (
            "audit_log",
            Arc::new(crate::observability::audit::table(
                audit.clone(),
                roles.clone(),
            )),
        ),
    ];
    for (name, table) in tables {
        information_schema::add_table(ctx, name, table)?;
    }
    ctx.register_udf(sessions::pg_cancel_backend(sessions.clone(), roles));
    Ok(())
}

/// Where the pipelines loading a table stand, for a model version's lineage.
struct LoadedOffsets(Listing);

impl PipelineOffsets for LoadedOffsets {
    fn offsets_into(&self, tables: &[&QualifiedName]) -> Vec<(String, i64)> {
        let Ok(listing) = self.0.read() else {
            return vec![];
        };
        let mut out = vec![];
        for (name, (def, status)) in listing.iter() {
            let loads = tables
                .iter()
                .any(|t| t.schema == def.table_schema && t.name == def.table_name);
            if !loads {
                continue;
            }
            for (partition, cursor) in status.snapshot().cursors {
                if let Some(offset) = cursor.committed_offset {
                    out.push((format!("{name}/{partition}"), offset));
                }
            }
        }
        out
    }
}

/// DataFusion's runtime with a bounded memory pool: an operator that asks for
/// more than is free fails its query with ResourcesExhausted (SQLSTATE 53200),
/// naming the biggest consumers, while other queries and ingest go on.
/// Greedy rather than fair-spill: a query alone on the server may use the
/// whole pool, where a fair share would cap it even when nothing else runs.
fn runtime(memory_limit: Option<usize>) -> Result<Arc<RuntimeEnv>> {
    let mut builder = RuntimeEnvBuilder::new();
    if let Some(limit) = memory_limit {
        let top = NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN);
        builder = builder.with_memory_pool(Arc::new(TrackConsumersPool::new(
            GreedyMemoryPool::new(limit),
            top,
        )));
    }
    builder
        .build_arc()
        .map_err(|e| BrookError::CatalogCorrupt(format!("query runtime: {e}")))
}
