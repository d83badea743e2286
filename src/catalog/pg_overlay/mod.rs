//! Brook's own rows in `pg_catalog`, laid over datafusion-pg-catalog's.
//!
//! datafusion-pg-catalog derives `pg_class`, `pg_attribute` and
//! `pg_namespace` from DataFusion's catalog, but ships `pg_constraint`,
//! `pg_index` and `pg_attrdef` as empty static tables and answers
//! `pg_table_is_visible` with true for every relation. Drivers reflect tables
//! from exactly those (SQLAlchemy's `inspect()`, pgJDBC's
//! `getPrimaryKeys`, DBeaver), so Brook answers them from its durable catalog:
//! primary keys ([`keys`]), column defaults ([`defaults`]) and which relations
//! the search path shows ([`functions`]). Everything else is the inner
//! provider's, unchanged.

mod defaults;
mod functions;
mod keys;
mod relations;
mod rows;
mod session_rows;
mod types;

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, new_null_array};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::{Catalog, DATABASE};
use crate::error::{BrookError, Result};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;
pub use functions::{REGCLASS_OF_NAME, REGCLASS_TEXT};
use functions::{Snapshot, Snapshotted};
use relations::Relations;
pub use session_rows::SessionRelations;
use session_rows::SessionView;

const PG_CATALOG: &str = "pg_catalog";

/// Replace the `pg_catalog` schema datafusion-pg-catalog registered with one
/// that answers keys, defaults and visibility, and register the functions
/// that read them. Installed before anything plans against `pg_catalog`
/// (the `information_schema` views bind its tables when created); the
/// durable catalog it reads is attached once open ([`PgOverlay::attach`]).
pub fn install(ctx: &SessionContext) -> Result<PgOverlay> {
    let missing = || BrookError::CatalogCorrupt("pg_catalog is not registered".to_string());
    let database = ctx.catalog(DATABASE).ok_or_else(missing)?;
    let inner = database.schema(PG_CATALOG).ok_or_else(missing)?;
    let snapshot = Arc::new(Snapshot::default());
    for udf in [
        functions::pg_table_is_visible(snapshot.clone()),
        functions::pg_get_indexdef(snapshot.clone()),
        functions::pg_get_constraintdef(snapshot.clone()),
        functions::regclass_text(snapshot.clone()),
        functions::regclass_of_name(snapshot.clone()),
    ] {
        crate::catalog::pg_functions::replace_udf(ctx, udf);
    }
    let static_tables = PgCatalogStaticTables::try_new()
        .map(Arc::new)
        .map_err(|e| BrookError::CatalogCorrupt(format!("pg_catalog: {e}")))?;
    let shared = Arc::new(Shared {
        views: Default::default(),
        inner,
        catalog: OnceLock::new(),
        snapshot,
        static_tables,
    });
    database
        .register_schema(PG_CATALOG, Arc::new(Overlay(shared.clone())))
        .map_err(|e| BrookError::CatalogCorrupt(format!("pg_catalog: {e}")))?;
    Ok(PgOverlay(shared))
}

/// The installed overlay, waiting for the durable catalog.
pub struct PgOverlay(Arc<Shared>);

impl PgOverlay {
    /// From now on keys and defaults come from `catalog` (before, there are
    /// none: no table is open yet).
    pub fn attach(&self, catalog: Arc<Catalog>) {
        let _ = self.0.catalog.set(catalog);
    }
}

/// `pg_tables` and `pg_views` as PostgreSQL defines them, over `pg_class`:
/// datafusion-pg-catalog lists views among the tables and no view in
/// `pg_views`, and dbt decides from these two whether to DROP TABLE or
/// DROP VIEW.
const VIEWS: &[&str] = &[
    "CREATE OR REPLACE VIEW pg_catalog.pg_tables AS
     SELECT n.nspname AS schemaname, c.relname AS tablename, 'brook' AS tableowner,
            CAST(NULL AS text) AS tablespace, c.relhasindex AS hasindexes,
            false AS hasrules, false AS hastriggers, false AS rowsecurity
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p')",
    "CREATE OR REPLACE VIEW pg_catalog.pg_views AS
     SELECT n.nspname AS schemaname, c.relname AS viewname, 'brook' AS viewowner,
            CAST(NULL AS text) AS definition
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'v'",
];

/// Define the views of [`VIEWS`] in `ctx`'s `pg_catalog` (after [`install`]).
pub async fn register_views(ctx: &SessionContext) -> Result<()> {
    for view in VIEWS {
        ctx.sql(view).await?.collect().await?;
    }
    Ok(())
}

/// What the overlay's tables read at scan time.
struct Shared {
    /// Views defined over the overlay's own tables ([`VIEWS`]), in front
    /// of the inner tables of their names.
    views: std::sync::RwLock<std::collections::HashMap<String, Arc<dyn TableProvider>>>,
    inner: Arc<dyn SchemaProvider>,
    catalog: OnceLock<Arc<Catalog>>,
    /// Answers the catalog functions of contexts that are not a session's.
    snapshot: Arc<Snapshot>,
    /// datafusion-pg-catalog's fixed tables, for the providers of the
    /// sessions' own relations ([`SessionRelations`]).
    static_tables: Arc<PgCatalogStaticTables>,
}

impl Shared {
    /// The whole of an inner table, as one batch.
    async fn scan_inner(&self, name: &str, state: &dyn Session) -> DfResult<RecordBatch> {
        let table = self.inner.table(name).await?.ok_or_else(|| {
            DataFusionError::Internal(format!("pg_catalog.{name} is not registered"))
        })?;
        let plan = table.scan(state, None, &[], None).await?;
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
        Ok(concat_batches(&table.schema(), &batches)?)
    }

    /// Every relation's OID and namespace as `pg_class` numbers them now
    /// for the session of `state` (its temporary tables and its open
    /// transaction's changes included), the declared tables, and the whole
    /// of `pg_class` and `pg_namespace`; kept as the [`Snapshot`] the
    /// session's catalog functions answer from.
    async fn read(&self, state: &dyn Session) -> DfResult<Seen> {
        let class = self.scan_inner("pg_class", state).await?;
        let namespaces = self.scan_inner("pg_namespace", state).await?;
        let session = SessionRelations::of(state);
        let view = match &session {
            Some(session) => {
                session
                    .relations(&self.static_tables, class, namespaces, state)
                    .await?
            }
            None => SessionView::shared(class, namespaces),
        };
        let mut relations = Relations::read(&view.class, &view.namespaces)?;
        let declared = match (self.catalog.get(), &session) {
            (Some(catalog), Some(session)) => {
                catalog.declared_tables_in(session.transaction()).await
            }
            (Some(catalog), None) => catalog.declared_tables().await,
            (None, _) => Vec::new(),
        };
        keys::show_indexes(&mut relations, &declared);
        let snapshot = match &session {
            Some(session) => session.snapshot(),
            None => self.snapshot.clone(),
        };
        Ok(Seen {
            snapshot: snapshot.update(relations, declared),
            view,
            session,
        })
    }
}

/// One read of the relations, as [`Shared::read`] returns it.
struct Seen {
    snapshot: Arc<Snapshotted>,
    view: SessionView,
    session: Option<SessionRelations>,
}

struct Overlay(Arc<Shared>);

impl fmt::Debug for Overlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrookPgCatalog")
    }
}

/// The tables Brook answers itself.
#[derive(Clone, Copy, Debug)]
enum Derived {
    /// Tables about relations, read from one snapshot of them.
    Relations(RelationTable),
    Type,
}

#[derive(Clone, Copy, Debug)]
enum RelationTable {
    Class,
    Attribute,
    Constraint,
    Index,
    Attrdef,
    Namespace,
}

impl Derived {
    fn named(name: &str) -> Option<Self> {
        use RelationTable::*;
        Some(match name {
            "pg_class" => Self::Relations(Class),
            "pg_attribute" => Self::Relations(Attribute),
            "pg_constraint" => Self::Relations(Constraint),
            "pg_index" => Self::Relations(Index),
            "pg_attrdef" => Self::Relations(Attrdef),
            "pg_namespace" => Self::Relations(Namespace),
            "pg_type" => Self::Type,
            _ => return None,
        })
    }
}

#[async_trait]
impl SchemaProvider for Overlay {
    fn table_names(&self) -> Vec<String> {
        self.0.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(view) = self.0.views.read().ok().and_then(|v| v.get(name).cloned()) {
            return Ok(Some(view));
        }
        let Some(inner) = self.0.inner.table(name).await? else {
            return Ok(None);
        };
        let Some(kind) = Derived::named(&name.to_ascii_lowercase()) else {
            return Ok(Some(inner));
        };
        let schema = match kind {
            Derived::Relations(table @ (RelationTable::Constraint | RelationTable::Index)) => {
                keys::schema(table, &inner.schema())
            }
            Derived::Relations(RelationTable::Class) => class_schema(&inner.schema()),
            Derived::Type => types::schema(&inner.schema()),
            Derived::Relations(_) => inner.schema(),
        };
        Ok(Some(Arc::new(DerivedTable {
            kind,
            schema,
            table_type: inner.table_type(),
            shared: self.0.clone(),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.0.inner.table_exist(name)
    }

    /// Only [`register_views`] defines tables here (as `CREATE OR REPLACE
    /// VIEW pg_catalog.…`, planned once at start-up).
    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let mut views = self
            .0
            .views
            .write()
            .map_err(|_| DataFusionError::Internal("pg_catalog views poisoned".into()))?;
        Ok(views.insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let mut views = self
            .0
            .views
            .write()
            .map_err(|_| DataFusionError::Internal("pg_catalog views poisoned".into()))?;
        Ok(views.remove(name))
    }
}

/// `pg_class` with the array columns datafusion-pg-catalog leaves out, all
/// NULL (no storage options, default privileges): SQLAlchemy's
/// `get_indexes()` and psql's `\d+` select `reloptions`.
fn class_schema(inner: &SchemaRef) -> SchemaRef {
    let text_array = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let mut fields: Vec<Field> = inner.fields().iter().map(|f| f.as_ref().clone()).collect();
    for name in ["reloptions", "relacl"] {
        if inner.field_with_name(name).is_err() {
            fields.push(Field::new(name, text_array.clone(), true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// A `pg_catalog` table computed at scan time from the inner catalog and
/// Brook's durable one.
struct DerivedTable {
    kind: Derived,
    schema: SchemaRef,
    /// The inner table's, so that `pg_class.relkind` does not change.
    table_type: TableType,
    shared: Arc<Shared>,
}

impl fmt::Debug for DerivedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pg_catalog {:?}", self.kind)
    }
}

impl DerivedTable {
    async fn rows(&self, state: &dyn Session) -> DfResult<RecordBatch> {
        match self.kind {
            Derived::Type => {
                // Types do not depend on relations: no pg_class scan.
                let types = self.shared.scan_inner("pg_type", state).await?;
                let procs = self.shared.scan_inner("pg_proc", state).await?;
                types::with_function_oids(&self.schema, &types, &procs)
            }
            Derived::Relations(table) => self.relation_rows(table, state).await,
        }
    }

    /// The rows of a table that describes relations, from one snapshot.
    async fn relation_rows(
        &self,
        table: RelationTable,
        state: &dyn Session,
    ) -> DfResult<RecordBatch> {
        let Seen {
            snapshot,
            view,
            session,
        } = self.shared.read(state).await?;
        let (relations, declared) = (&snapshot.0, &snapshot.1);
        let class = &view.class;
        match table {
            RelationTable::Attribute => {
                let mut attributes = self.shared.scan_inner("pg_attribute", state).await?;
                if let Some(session) = &session {
                    attributes = session
                        .attributes(&self.shared.static_tables, attributes, &view, state)
                        .await?;
                }
                defaults::mark_attributes(attributes, relations, declared)
            }
            RelationTable::Namespace => Ok(view.namespaces.clone()),
            RelationTable::Attrdef => defaults::attrdef(&self.schema, relations, declared),
            RelationTable::Constraint => keys::constraints(&self.schema, relations, declared),
            RelationTable::Index => keys::indexes(&self.schema, relations, declared),
            RelationTable::Class => {
                let mut columns = class.columns().to_vec();
                for field in &self.schema.fields()[class.num_columns()..] {
                    columns.push(new_null_array(field.data_type(), class.num_rows()));
                }
                let relations_rows = RecordBatch::try_new(self.schema.clone(), columns)?;
                let index_rows = keys::index_classes(&self.schema, relations, declared)?;
                Ok(concat_batches(
                    &self.schema,
                    [&relations_rows, &index_rows],
                )?)
            }
        }
    }
}

#[async_trait]
impl TableProvider for DerivedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.table_type
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = self.rows(state).await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
