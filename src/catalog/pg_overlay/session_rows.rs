//! The relations only one session sees, in its `pg_class`, `pg_namespace`
//! and `pg_attribute`: its temporary tables (schema `pg_temp`) and what its
//! open transaction created or dropped, as PostgreSQL shows them to that
//! session and to nobody else (psql's `\dt`, `information_schema.columns`,
//! which dbt reads for the temporary relations of an incremental model).
//!
//! datafusion-pg-catalog derives its tables from the server's shared
//! catalog. The session's own relations are derived by a second, small
//! provider of the same crate over just them ([`SessionOnly`]), so their
//! rows have exactly the shape and types of the shared ones; their OIDs are
//! moved into a range of the session's own ([`SessionRelations::oid`]) so
//! that they never meet a shared relation's. The shared rows of a name the
//! transaction changed are left out, and the session's added.
//!
//! The functions that answer from a snapshot of these rows
//! (`pg_table_is_visible`, `regclass`) read the session's own snapshot,
//! so that one session's temporary tables never decide another's answer.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProviderList, Session};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::PgCatalogContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogSchemaProvider, PgCatalogStaticTables,
};

use super::functions::Snapshot;
use super::relations::{int32, text};
use crate::catalog::DATABASE;
use crate::catalog::session_catalog::SessionCatalogs;
use crate::storage::temp_tables::{TEMP_SCHEMA, TempTables};
use crate::storage::transaction::SessionTransaction;

/// First OID of the sessions' ranges: above what the shared catalog hands
/// out (from 16,384, one per relation and schema ever seen) and above the
/// synthetic OIDs of the keys' indexes in `pg_class` (below 1.61 × 10⁹:
/// catalog::pg_overlay::keys), below those of `pg_attrdef` (1.9 × 10⁹).
pub(super) const FIRST_SESSION_OID: i32 = 1_650_000_000;
/// OIDs per session; sessions beyond 20,000 reuse ranges, which is safe
/// because a session's OIDs are seen only by that session.
pub(super) const SESSION_SPAN: i32 = 10_000;
const SESSION_RANGES: u32 = 20_000;
/// Where datafusion-pg-catalog starts numbering.
const FIRST_DYNAMIC_OID: i32 = 16_384;

static SESSIONS: AtomicU32 = AtomicU32::new(0);

/// One session's relations and the snapshot its catalog functions answer
/// from; kept in the session's options, where those functions find it.
#[derive(Clone, Debug)]
pub struct SessionRelations(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    only: SessionOnly,
    base: i32,
    /// Built at the session's first catalog read: most sessions never make one.
    provider: OnceLock<PgCatalogSchemaProvider<SessionOnly, NoRoles>>,
    snapshot: Arc<Snapshot>,
}

impl Default for SessionRelations {
    /// A session with neither temporary tables nor a transaction (the
    /// options' default; real sessions are made by [`Self::install`]).
    fn default() -> Self {
        Self::new(
            Arc::new(datafusion::catalog::MemoryCatalogProviderList::new()),
            Arc::default(),
            Arc::default(),
        )
    }
}

impl SessionRelations {
    fn new(
        shared: Arc<dyn CatalogProviderList>,
        temp: Arc<TempTables>,
        transaction: Arc<SessionTransaction>,
    ) -> Self {
        let session = SESSIONS.fetch_add(1, Ordering::Relaxed) % SESSION_RANGES;
        // At most 20,000 × 10,000 above 1.65 × 10⁹: below 1.9 × 10⁹.
        let base = FIRST_SESSION_OID + session as i32 * SESSION_SPAN;
        Self(Arc::new(Inner {
            only: SessionOnly {
                session: Arc::new(SessionCatalogs::new(
                    shared.clone(),
                    temp.clone(),
                    transaction.clone(),
                )),
                shared,
                temp,
                transaction,
            },
            base,
            provider: OnceLock::new(),
            snapshot: Arc::new(Snapshot::default()),
        }))
    }

    /// Give the session of `ctx` its relations: `shared` is the server's
    /// catalog list, `temp` and `transaction` the session's.
    pub fn install(
        ctx: &SessionContext,
        shared: Arc<dyn CatalogProviderList>,
        temp: Arc<TempTables>,
        transaction: Arc<SessionTransaction>,
    ) {
        let relations = Self::new(shared, temp, transaction);
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .extensions
            .insert(relations);
    }

    /// The relations of the session whose state is `state`.
    pub(super) fn of(state: &dyn Session) -> Option<Self> {
        state
            .config_options()
            .extensions
            .get::<SessionRelations>()
            .cloned()
    }

    /// The snapshot the session's catalog functions answer from.
    pub(super) fn snapshot(&self) -> Arc<Snapshot> {
        self.0.snapshot.clone()
    }

    /// The session's transaction (its staged schema changes).
    pub(super) fn transaction(&self) -> &SessionTransaction {
        &self.0.only.transaction
    }

    /// Whether the session has temporary tables (`pg_temp` leads its path).
    pub(super) fn has_temp(&self) -> bool {
        !self.0.only.temp.is_empty()
    }

    /// Whether the session has anything of its own to show.
    fn is_empty(&self) -> bool {
        self.0.only.temp.is_empty() && self.0.only.staged().is_empty()
    }

    /// The session's OID for what its own provider numbered `oid`.
    fn oid(&self, oid: i32) -> i32 {
        self.0.base + (oid - FIRST_DYNAMIC_OID).rem_euclid(SESSION_SPAN)
    }

    fn provider(
        &self,
        static_tables: &Arc<PgCatalogStaticTables>,
    ) -> DfResult<&PgCatalogSchemaProvider<SessionOnly, NoRoles>> {
        if let Some(provider) = self.0.provider.get() {
            return Ok(provider);
        }
        let provider =
            PgCatalogSchemaProvider::try_new(self.0.only.clone(), static_tables.clone(), NoRoles)?;
        Ok(self.0.provider.get_or_init(|| provider))
    }

    async fn scan(
        &self,
        static_tables: &Arc<PgCatalogStaticTables>,
        name: &str,
        state: &dyn Session,
    ) -> DfResult<RecordBatch> {
        use datafusion::catalog::SchemaProvider;
        let table = self
            .provider(static_tables)?
            .table(name)
            .await?
            .ok_or_else(|| {
                DataFusionError::Internal(format!("pg_catalog.{name} is not registered"))
            })?;
        let plan = table.scan(state, None, &[], None).await?;
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
        Ok(concat_batches(&table.schema(), &batches)?)
    }

    /// `pg_class` and `pg_namespace` as the session sees them, from the
    /// shared ones: the shared relations its transaction replaced or
    /// dropped left out (their OIDs returned), its own added.
    pub(super) async fn relations(
        &self,
        static_tables: &Arc<PgCatalogStaticTables>,
        class: RecordBatch,
        namespaces: RecordBatch,
        state: &dyn Session,
    ) -> DfResult<SessionView> {
        if self.is_empty() {
            return Ok(SessionView::shared(class, namespaces));
        }
        let own_class = self.scan(static_tables, "pg_class", state).await?;
        let own_namespaces = self.scan(static_tables, "pg_namespace", state).await?;
        // Each of the session's namespaces as the shared catalog numbers
        // it, or (pg_temp) in the session's range.
        let shared_oid: HashMap<String, i32> = names_and_oids(&namespaces, "nspname")?
            .into_iter()
            .collect();
        let mut namespace_oid = HashMap::new();
        let mut added_namespaces = Vec::new();
        for (name, oid) in names_and_oids(&own_namespaces, "nspname")? {
            let moved = match shared_oid.get(&name) {
                Some(shared) => *shared,
                None => {
                    added_namespaces.push(oid);
                    self.oid(oid)
                }
            };
            namespace_oid.insert(oid, (name, moved));
        }
        // The shared relations the transaction changed.
        let staged = self.0.only.staged();
        let namespace_name: HashMap<i32, &str> = shared_oid
            .iter()
            .map(|(name, oid)| (*oid, name.as_str()))
            .collect();
        let oids = int32(&class, "oid")?;
        let names = text(&class, "relname")?;
        let schemas = int32(&class, "relnamespace")?;
        let mut hidden = HashSet::new();
        let keep: datafusion::arrow::array::BooleanArray = (0..class.num_rows())
            .map(|i| {
                let schema = namespace_name.get(&schemas.value(i)).copied().unwrap_or("");
                let changed = staged.contains(&(schema.to_string(), names.value(i).to_string()));
                if changed {
                    hidden.insert(oids.value(i));
                }
                Some(!changed)
            })
            .collect();
        let shared_class = filter_record_batch(&class, &keep)?;
        let own_class = self.moved_class(own_class, &namespace_oid)?;
        let own_namespaces = self.moved_namespaces(own_namespaces, &added_namespaces)?;
        Ok(SessionView {
            class: concat_batches(&class.schema(), [&shared_class, &own_class])?,
            namespaces: concat_batches(&namespaces.schema(), [&namespaces, &own_namespaces])?,
            hidden,
        })
    }

    /// The session's relations with its OIDs, a temporary table marked so.
    fn moved_class(
        &self,
        own: RecordBatch,
        namespace_oid: &HashMap<i32, (String, i32)>,
    ) -> DfResult<RecordBatch> {
        let schema = own.schema();
        let mut columns: Vec<ArrayRef> = own.columns().to_vec();
        let namespaces = int32(&own, "relnamespace")?;
        let temporary: Vec<bool> = (0..own.num_rows())
            .map(|i| {
                namespace_oid
                    .get(&namespaces.value(i))
                    .is_some_and(|(name, _)| name == TEMP_SCHEMA)
            })
            .collect();
        for (index, field) in schema.fields().iter().enumerate() {
            columns[index] = match field.name().as_str() {
                "oid" | "relfilenode" => self.moved(&own, field.name())?,
                "relnamespace" => Arc::new(
                    namespaces
                        .iter()
                        .map(|oid| oid.map(|oid| namespace_oid.get(&oid).map_or(oid, |(_, o)| *o)))
                        .collect::<Int32Array>(),
                ),
                "relpersistence" => Arc::new(
                    temporary
                        .iter()
                        .map(|t| Some(if *t { "t" } else { "p" }))
                        .collect::<StringArray>(),
                ),
                _ => continue,
            };
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// The namespaces only the session has (`pg_temp`), with its OIDs.
    fn moved_namespaces(&self, own: RecordBatch, added: &[i32]) -> DfResult<RecordBatch> {
        let oids = int32(&own, "oid")?;
        let keep: datafusion::arrow::array::BooleanArray = oids
            .iter()
            .map(|oid| Some(oid.is_some_and(|oid| added.contains(&oid))))
            .collect();
        let own = filter_record_batch(&own, &keep)?;
        self.with_moved(own, "oid")
    }

    fn moved(&self, batch: &RecordBatch, column: &str) -> DfResult<ArrayRef> {
        let oids = int32(batch, column)?;
        Ok(Arc::new(
            oids.iter()
                .map(|oid| oid.map(|oid| self.oid(oid)))
                .collect::<Int32Array>(),
        ))
    }

    fn with_moved(&self, batch: RecordBatch, column: &str) -> DfResult<RecordBatch> {
        let schema = batch.schema();
        let mut columns = batch.columns().to_vec();
        if let Ok(index) = schema.index_of(column) {
            columns[index] = self.moved(&batch, column)?;
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// `pg_attribute` as the session sees it: the columns of the shared
    /// relations it hides left out, those of its own added.
    pub(super) async fn attributes(
        &self,
        static_tables: &Arc<PgCatalogStaticTables>,
        shared: RecordBatch,
        view: &SessionView,
        state: &dyn Session,
    ) -> DfResult<RecordBatch> {
        if self.is_empty() && view.hidden.is_empty() {
            return Ok(shared);
        }
        let relations = int32(&shared, "attrelid")?;
        let keep: datafusion::arrow::array::BooleanArray = relations
            .iter()
            .map(|oid| Some(oid.is_none_or(|oid| !view.hidden.contains(&oid))))
            .collect();
        let shared_rows = filter_record_batch(&shared, &keep)?;
        let own = self.scan(static_tables, "pg_attribute", state).await?;
        let own = self.with_moved(own, "attrelid")?;
        let schema: SchemaRef = shared.schema();
        Ok(concat_batches(&schema, [&shared_rows, &own])?)
    }
}

/// What the session's scan of the relations saw.
pub(super) struct SessionView {
    pub class: RecordBatch,
    pub namespaces: RecordBatch,
    /// Shared relations the session's transaction replaced or dropped.
    hidden: HashSet<i32>,
}

impl SessionView {
    /// The shared rows as they are (a context without a session).
    pub fn shared(class: RecordBatch, namespaces: RecordBatch) -> Self {
        Self {
            class,
            namespaces,
            hidden: HashSet::new(),
        }
    }
}

fn names_and_oids(batch: &RecordBatch, name: &str) -> DfResult<Vec<(String, i32)>> {
    let oids = int32(batch, "oid")?;
    let names = text(batch, name)?;
    Ok((0..batch.num_rows())
        .filter(|i| !oids.is_null(*i) && !names.is_null(*i))
        .map(|i| (names.value(i).to_string(), oids.value(i)))
        .collect())
}

impl ExtensionOptions for SessionRelations {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> DfResult<()> {
        Err(DataFusionError::Configuration(format!(
            "\"{key}\" is not a setting"
        )))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![]
    }
}

impl ConfigExtension for SessionRelations {
    const PREFIX: &'static str = "brook_relations";
}

/// The session's own relations as a catalog datafusion-pg-catalog can
/// describe: its temporary tables, and in each shared schema the tables and
/// views its open transaction created.
#[derive(Clone, Debug)]
struct SessionOnly {
    /// What the session's queries see (its transaction's changes applied).
    session: Arc<SessionCatalogs>,
    shared: Arc<dyn CatalogProviderList>,
    temp: Arc<TempTables>,
    transaction: Arc<SessionTransaction>,
}

impl SessionOnly {
    /// Every (schema, name) the open transaction's schema changes touch.
    fn staged(&self) -> HashSet<(String, String)> {
        let Some(catalog) = self.shared.catalog(DATABASE) else {
            return HashSet::new();
        };
        catalog
            .schema_names()
            .into_iter()
            .flat_map(|schema| {
                self.transaction
                    .staged_names(&schema)
                    .into_iter()
                    .map(move |(name, _)| (schema.clone(), name))
            })
            .collect()
    }
}

#[async_trait]
impl CatalogInfo for SessionOnly {
    async fn catalog_names(&self) -> DfResult<Vec<String>> {
        Ok(vec![DATABASE.to_string()])
    }

    async fn schema_names(&self, catalog: &str) -> DfResult<Option<Vec<String>>> {
        if catalog != DATABASE {
            return Ok(None);
        }
        let mut schemas: Vec<String> = self
            .staged()
            .into_iter()
            .map(|(schema, _)| schema)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !self.temp.is_empty() {
            schemas.push(TEMP_SCHEMA.to_string());
        }
        Ok(Some(schemas))
    }

    async fn table_names(&self, catalog: &str, schema: &str) -> DfResult<Option<Vec<String>>> {
        if catalog != DATABASE {
            return Ok(None);
        }
        if schema == TEMP_SCHEMA {
            use datafusion::catalog::SchemaProvider;
            return Ok(Some(self.temp.table_names()));
        }
        Ok(Some(
            self.transaction
                .staged_names(schema)
                .into_iter()
                .filter(|(_, exists)| *exists)
                .map(|(name, _)| name)
                .collect(),
        ))
    }

    async fn table_schema(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> DfResult<Option<SchemaRef>> {
        let catalogs: Arc<dyn CatalogProviderList> = self.session.clone();
        catalogs.table_schema(catalog, schema, table).await
    }

    async fn table_type(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> DfResult<Option<TableType>> {
        let catalogs: Arc<dyn CatalogProviderList> = self.session.clone();
        catalogs.table_type(catalog, schema, table).await
    }
}

/// datafusion-pg-catalog's context for the session's provider, which
/// describes relations only (roles come from the shared one).
#[derive(Clone, Debug)]
struct NoRoles;

impl PgCatalogContextProvider for NoRoles {}
