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

mod acls;
mod catalog_oids;
mod defaults;
mod depends;
mod descriptions;
mod empty_tables;
mod functions;
mod keys;
mod relations;
mod rows;
mod session_rows;
mod sizes;
mod types;

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, new_null_array};
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
pub use functions::{REGCLASS_FOUND, REGCLASS_OF_NAME, REGCLASS_TEXT};
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
pub fn install(ctx: &SessionContext, roles: crate::catalog::roles::Roles) -> Result<PgOverlay> {
    let missing = || BrookError::CatalogCorrupt("pg_catalog is not registered".to_string());
    let database = ctx.catalog(DATABASE).ok_or_else(missing)?;
    let inner = database.schema(PG_CATALOG).ok_or_else(missing)?;
    let snapshot = Arc::new(Snapshot::default());
    let catalog = Arc::new(OnceLock::new());
    for udf in sizes::functions(snapshot.clone(), catalog.clone()) {
        crate::catalog::pg_functions::replace_udf(ctx, udf);
    }
    for udf in [
        functions::pg_table_is_visible(snapshot.clone()),
        functions::pg_get_indexdef(snapshot.clone()),
        functions::pg_get_constraintdef(snapshot.clone()),
        functions::regclass_text(snapshot.clone()),
        functions::regclass_of_name(snapshot.clone()),
        functions::regclass_found(),
        functions::pg_get_viewdef(snapshot.clone(), database.clone()),
        functions::pg_get_triggerdef(),
        descriptions::obj_description(snapshot.clone()),
        descriptions::col_description(snapshot.clone()),
    ] {
        crate::catalog::pg_functions::replace_udf(ctx, udf);
    }
    let static_tables = PgCatalogStaticTables::try_new()
        .map(Arc::new)
        .map_err(|e| BrookError::CatalogCorrupt(format!("pg_catalog: {e}")))?;
    let shared = Arc::new(Shared {
        views: Default::default(),
        inner,
        catalog,
        snapshot,
        static_tables,
        renumbering: OnceLock::new(),
        roles,
    });
    database
        .register_schema(PG_CATALOG, Arc::new(Overlay(shared.clone())))
        .map_err(|e| BrookError::CatalogCorrupt(format!("pg_catalog: {e}")))?;
    Ok(PgOverlay(shared))
}

/// Whether `pg_catalog.<table>` is one Brook never has a row in.
pub fn is_always_empty(table: &str) -> bool {
    empty_tables::names().any(|name| name == table)
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
     SELECT n.nspname AS schemaname, c.relname AS tablename,
            pg_get_userbyid(c.relowner) AS tableowner,
            CAST(NULL AS text) AS tablespace, c.relhasindex AS hasindexes,
            false AS hasrules, false AS hastriggers, c.relrowsecurity AS rowsecurity
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p')",
    "CREATE OR REPLACE VIEW pg_catalog.pg_views AS
     SELECT n.nspname AS schemaname, c.relname AS viewname,
            pg_get_userbyid(c.relowner) AS viewowner,
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
    catalog: Arc<OnceLock<Arc<Catalog>>>,
    /// Answers the catalog functions of contexts that are not a session's.
    snapshot: Arc<Snapshot>,
    /// datafusion-pg-catalog's fixed tables, for the providers of the
    /// sessions' own relations ([`SessionRelations`]).
    static_tables: Arc<PgCatalogStaticTables>,
    /// [`Shared::catalog_renumbering`], once read.
    renumbering: OnceLock<Arc<Renumbering>>,
    /// The names of the roles that own and are granted things.
    roles: crate::catalog::roles::Roles,
}

impl Shared {
    /// The owners and grants (none before the catalog is attached).
    fn privileges(&self) -> Arc<crate::catalog::privileges::Snapshot> {
        self.catalog
            .get()
            .map(|c| c.privileges().snapshot())
            .unwrap_or_default()
    }
}

/// (relations, schemas): OID as datafusion-pg-catalog numbered it → fixed.
type Renumbering = (
    std::collections::HashMap<i32, i32>,
    std::collections::HashMap<i32, i32>,
);

impl Shared {
    /// The whole of an inner table, as one batch.
    /// Catalog relations and the fixed schemas keep PostgreSQL's OIDs
    /// ([`catalog_oids`]).
    async fn scan_inner(&self, name: &str, state: &dyn Session) -> DfResult<RecordBatch> {
        let batch = self.scan_unnumbered(name, state).await?;
        let (relation_column, schema_column) = match name {
            "pg_class" => (Some("oid"), Some("relnamespace")),
            "pg_attribute" => (Some("attrelid"), None),
            "pg_type" => (Some("typrelid"), Some("typnamespace")),
            "pg_namespace" => (None, Some("oid")),
            _ => return Ok(batch),
        };
        let maps = self.catalog_renumbering(state).await?;
        let batch = match relation_column {
            Some(column) => catalog_oids::renumber(batch, column, &maps.0)?,
            None => batch,
        };
        match schema_column {
            Some(column) => catalog_oids::renumber(batch, column, &maps.1),
            None => Ok(batch),
        }
    }

    async fn scan_unnumbered(&self, name: &str, state: &dyn Session) -> DfResult<RecordBatch> {
        let table = self.inner.table(name).await?.ok_or_else(|| {
            DataFusionError::Internal(format!("pg_catalog.{name} is not registered"))
        })?;
        let plan = table.scan(state, None, &[], None).await?;
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
        Ok(concat_batches(&table.schema(), &batches)?)
    }

    /// The OIDs of the catalog relations and of the fixed schemas as
    /// datafusion-pg-catalog numbered them → PostgreSQL's; read once (they
    /// never change while the server runs).
    async fn catalog_renumbering(&self, state: &dyn Session) -> DfResult<Arc<Renumbering>> {
        if let Some(maps) = self.renumbering.get() {
            return Ok(maps.clone());
        }
        let class = self.scan_unnumbered("pg_class", state).await?;
        let namespaces = self.scan_unnumbered("pg_namespace", state).await?;
        let catalog_namespace = Relations::read(&class, &namespaces)?
            .namespace(PG_CATALOG)
            .unwrap_or(11);
        let maps = Arc::new((
            catalog_oids::renumbering(&class, catalog_namespace),
            catalog_oids::schema_renumbering(&namespaces),
        ));
        Ok(self.renumbering.get_or_init(|| maps).clone())
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
        let views = match self.catalog.get() {
            Some(catalog) => catalog.views().await,
            None => Vec::new(),
        };
        let comments = match (self.catalog.get(), &session) {
            (Some(catalog), Some(session)) => {
                catalog.comments_in(Some(session.transaction())).await
            }
            (Some(catalog), None) => catalog.comments_in(None).await,
            (None, _) => Vec::new(),
        };
        let descriptions = descriptions::numbered(&relations, comments);
        let snapshot = match &session {
            Some(session) => session.snapshot(),
            None => self.snapshot.clone(),
        };
        Ok(Seen {
            snapshot: snapshot.update(Snapshotted {
                relations,
                declared,
                views,
                descriptions,
            }),
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
    /// `pg_roles` with OIDs that other tables' owner columns can name.
    Roles,
    /// `pg_auth_members`: the memberships `GRANT role TO role` made.
    AuthMembers,
    /// A table whose array columns datafusion-pg-catalog holds as text
    /// ([`RETYPED`]).
    Retyped(&'static str),
}

#[derive(Clone, Copy, Debug)]
enum RelationTable {
    Class,
    Attribute,
    Constraint,
    Index,
    Attrdef,
    Namespace,
    Depend,
    Description,
    /// `pg_default_acl`, from `ALTER DEFAULT PRIVILEGES`.
    DefaultAcl,
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
            "pg_depend" => Self::Relations(Depend),
            "pg_description" => Self::Relations(Description),
            "pg_type" => Self::Type,
            "pg_roles" => Self::Roles,
            "pg_auth_members" => Self::AuthMembers,
            other => {
                let (table, _) = RETYPED.iter().find(|(table, _)| *table == other)?;
                Self::Retyped(table)
            }
        })
    }
}

#[async_trait]
impl SchemaProvider for Overlay {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.0.inner.table_names();
        for empty in empty_tables::names() {
            if !names.iter().any(|n| n == empty) {
                names.push(empty.to_string());
            }
        }
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(view) = self.0.views.read().ok().and_then(|v| v.get(name).cloned()) {
            return Ok(Some(view));
        }
        if name.eq_ignore_ascii_case("pg_default_acl")
            && let Some(shape) = empty_tables::table("pg_default_acl")
        {
            return Ok(Some(Arc::new(DerivedTable {
                kind: Derived::Relations(RelationTable::DefaultAcl),
                schema: shape.schema(),
                table_type: shape.table_type(),
                shared: self.0.clone(),
            })));
        }
        if let Some(empty) = empty_tables::table(&name.to_ascii_lowercase()) {
            return Ok(Some(empty));
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
            Derived::Relations(RelationTable::Attribute) => {
                retyped_schema("pg_attribute", &inner.schema())
            }
            Derived::Relations(RelationTable::Namespace) => {
                retyped_schema("pg_namespace", &inner.schema())
            }
            Derived::Type => types::schema(&inner.schema()),
            Derived::Roles | Derived::AuthMembers => inner.schema(),
            Derived::Retyped(table) => retyped_schema(table, &inner.schema()),
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
        self.0.inner.table_exist(name) || empty_tables::names().any(|n| n == name)
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

/// `batch` with its column `name` replaced by what `replace` makes of it;
/// unchanged when it has no such column. The overlay corrects single
/// columns of datafusion-pg-catalog's rows this way.
fn replace_column(
    batch: RecordBatch,
    name: &str,
    replace: impl FnOnce(&ArrayRef) -> DfResult<ArrayRef>,
) -> DfResult<RecordBatch> {
    let Ok(position) = batch.schema().index_of(name) else {
        return Ok(batch);
    };
    let mut columns = batch.columns().to_vec();
    columns[position] = replace(&columns[position])?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// `relhasindex` true for the tables with a key (whose index `pg_index`
/// lists): pg_dump reads a table's indexes, and so its PRIMARY KEY, only
/// when it is set, and `pg_tables.hasindexes` reads it.
fn with_index_flags(
    class: RecordBatch,
    indexed: &std::collections::HashSet<i32>,
) -> DfResult<RecordBatch> {
    let oids = relations::int32(&class, "oid")?.clone();
    replace_column(class, "relhasindex", |flags| {
        let flags = flags
            .as_any()
            .downcast_ref::<datafusion::arrow::array::BooleanArray>()
            .ok_or_else(|| DataFusionError::Internal("pg_class.relhasindex changed type".into()))?;
        let set: datafusion::arrow::array::BooleanArray = (0..flags.len())
            .map(|i| {
                let was = flags.is_valid(i) && flags.value(i);
                Some(was || indexed.contains(&oids.value(i)))
            })
            .collect();
        Ok(Arc::new(set))
    })
}

/// `pg_roles` with each role's OID ([`crate::catalog::roles::Roles::oid_of`]).
fn with_role_oids(
    rows: RecordBatch,
    roles: &crate::catalog::roles::Roles,
) -> DfResult<RecordBatch> {
    let Some(names) = rows.column_by_name("rolname").cloned() else {
        return Ok(rows);
    };
    replace_column(rows, "oid", |_| {
        let names = datafusion::arrow::compute::cast(&names, &DataType::Utf8)?;
        let names = datafusion::common::cast::as_string_array(&names)?;
        let oids: datafusion::arrow::array::Int32Array = names
            .iter()
            .map(|name| name.and_then(|n| roles.oid_of(n)))
            .collect();
        Ok(Arc::new(oids))
    })
}

/// `pg_auth_members`'s rows (of `schema`, PostgreSQL 16's columns, which
/// hold 15's) from the roles' memberships; datafusion-pg-catalog answered
/// canned rows, and psql's `\du` showed no role a member of any.
fn auth_members(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    roles: &crate::catalog::roles::Roles,
) -> DfResult<RecordBatch> {
    use datafusion::arrow::array::{BooleanArray, Int32Array};
    /// Role, member, whether the member inherits.
    type Membership = (i32, i32, bool);
    // Numbered after the catalog's own OIDs.
    const FIRST_OID: i32 = 910_000;
    let memberships = roles.memberships();
    let rows = memberships.len();
    let oids = |f: &dyn Fn(usize, &Membership) -> i32| -> ArrayRef {
        Arc::new(
            memberships
                .iter()
                .enumerate()
                .map(|(i, m)| f(i, m))
                .collect::<Int32Array>(),
        )
    };
    let flags = |f: &dyn Fn(&Membership) -> bool| -> ArrayRef {
        Arc::new(
            memberships
                .iter()
                .map(|m| Some(f(m)))
                .collect::<BooleanArray>(),
        )
    };
    let mut columns = vec![];
    for field in schema.fields() {
        let column = match field.name().as_str() {
            "oid" => oids(&|i, _| FIRST_OID + i as i32),
            "roleid" => oids(&|_, m| m.0),
            "member" => oids(&|_, m| m.1),
            // Only superusers grant roles; the bootstrap superuser stands
            // for them.
            "grantor" => oids(&|_, _| crate::catalog::privileges::acl::BOOTSTRAP_OWNER),
            "admin_option" => flags(&|_| false),
            "inherit_option" => flags(&|m| m.2),
            "set_option" => flags(&|_| true),
            _ => datafusion::arrow::array::new_null_array(field.data_type(), rows),
        };
        columns.push(datafusion::arrow::compute::cast(
            &column,
            field.data_type(),
        )?);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Array columns datafusion-pg-catalog holds as text, with the element
/// type PostgreSQL gives them (`aclitem[]` and `"char"[]` as text arrays):
/// pg_dump's `array_to_string(a.attoptions, ', ')` and `p.proacl IS
/// DISTINCT FROM pip.initprivs` need arrays on both sides.
const RETYPED: &[(&str, &[(&str, ArrayOf)])] = &[
    (
        "pg_attribute",
        &[
            ("attacl", ArrayOf::Acl),
            ("attoptions", ArrayOf::Text),
            ("attfdwoptions", ArrayOf::Text),
        ],
    ),
    (
        "pg_proc",
        &[
            ("proacl", ArrayOf::Acl),
            ("proargtypes", ArrayOf::Oid),
            ("proallargtypes", ArrayOf::Oid),
            ("proargmodes", ArrayOf::Text),
            ("proargnames", ArrayOf::Text),
            ("proconfig", ArrayOf::Text),
        ],
    ),
    ("pg_language", &[("lanacl", ArrayOf::Acl)]),
    // `public`'s privileges are set ([`public_schema_privileges`]); `\dn+`
    // joins them with `array_to_string`.
    ("pg_namespace", &[("nspacl", ArrayOf::Text)]),
    (
        "pg_database",
        &[
            ("datacl", ArrayOf::Acl),
            ("datcollversion", ArrayOf::MissingText),
        ],
    ),
];

#[derive(Clone, Copy, PartialEq)]
enum ArrayOf {
    Text,
    Oid,
    /// Privileges: NULL, PostgreSQL's "the default". Brook grants every
    /// user everything (roles and GRANT are still to come), which is no
    /// object's explicit ACL; datafusion-pg-catalog copied PostgreSQL's
    /// own, and pg_dump took them for grants made here.
    Acl,
    /// Not an array: a text column datafusion-pg-catalog lacks, NULL
    /// (pg_dump -Fc reads `pg_database.datcollversion`).
    MissingText,
}

/// `pg_database.datlocprovider` as PostgreSQL's one-letter code (`c` for
/// libc, `i` for ICU); datafusion-pg-catalog wrote `libc`, and pg_dump -Fc
/// stopped at "unrecognized locale provider: libc".
fn locale_provider_codes(databases: RecordBatch) -> DfResult<RecordBatch> {
    replace_column(databases, "datlocprovider", |providers| {
        let Ok(texts) = datafusion::common::cast::as_string_array(providers) else {
            return Ok(providers.clone());
        };
        let codes: datafusion::arrow::array::StringArray = texts
            .iter()
            .map(|p| {
                p.map(|p| match p {
                    "libc" => "c",
                    "icu" => "i",
                    other => other,
                })
            })
            .collect();
        Ok(Arc::new(codes))
    })
}

/// Field metadata marking a privileges column that is always NULL.
const DEFAULT_ACL: &str = "brook.default_acl";

fn retyped_schema(table: &str, inner: &SchemaRef) -> SchemaRef {
    let columns = RETYPED
        .iter()
        .find(|(name, _)| *name == table)
        .map_or(&[][..], |(_, columns)| *columns);
    let mut fields: Vec<Field> = inner
        .fields()
        .iter()
        .map(
            |f| match columns.iter().find(|(name, _)| name == f.name()) {
                Some((_, ArrayOf::MissingText)) | None => f.as_ref().clone(),
                Some((_, element)) => {
                    let element_type = match element {
                        ArrayOf::Oid => DataType::Int32,
                        _ => DataType::Utf8,
                    };
                    let mut metadata = std::collections::HashMap::new();
                    if *element == ArrayOf::Acl {
                        metadata.insert(DEFAULT_ACL.to_string(), "true".to_string());
                    }
                    Field::new(
                        f.name(),
                        DataType::List(Arc::new(Field::new_list_field(element_type, true))),
                        true,
                    )
                    .with_metadata(metadata)
                }
            },
        )
        .collect();
    for (name, kind) in columns {
        if *kind == ArrayOf::MissingText && inner.field_with_name(name).is_err() {
            fields.push(Field::new(*name, DataType::Utf8, true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// `batch` in `schema`, whose text-array columns `batch` holds as
/// PostgreSQL's array text (`{a,b}`).
fn as_text_arrays(schema: &SchemaRef, batch: RecordBatch) -> DfResult<RecordBatch> {
    use datafusion::arrow::array::{Array, ListBuilder, StringBuilder};
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let Some(column) = batch.column_by_name(field.name()) else {
            // A column the inner table lacks.
            columns.push(new_null_array(field.data_type(), batch.num_rows()));
            continue;
        };
        if field.metadata().contains_key(DEFAULT_ACL) {
            columns.push(new_null_array(field.data_type(), batch.num_rows()));
            continue;
        }
        if field.data_type() == column.data_type() {
            columns.push(column.clone());
            continue;
        }
        let text = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
        let text = datafusion::common::cast::as_string_array(&text)?;
        let mut list = ListBuilder::new(StringBuilder::new());
        for i in 0..text.len() {
            if text.is_null(i) {
                list.append_null();
                continue;
            }
            // `{a,b}`, or an oidvector's `700 701`.
            let inner = text.value(i).trim_start_matches('{').trim_end_matches('}');
            let separator = |c: char| c == ',' || (c.is_ascii_whitespace() && !inner.contains('"'));
            for item in inner.split(separator).filter(|item| !item.is_empty()) {
                list.values().append_value(item.trim_matches('"'));
            }
            list.append(true);
        }
        let list: datafusion::arrow::array::ArrayRef = Arc::new(list.finish());
        // Elements of another type (OIDs) from their text.
        columns.push(datafusion::arrow::compute::cast(&list, field.data_type())?);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
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
            Derived::Retyped(table) => {
                let rows = self.shared.scan_inner(table, state).await?;
                let rows = as_text_arrays(&self.schema, rows)?;
                match table {
                    "pg_database" => acls::databases(
                        locale_provider_codes(rows)?,
                        &self.shared.privileges(),
                        &self.shared.roles,
                    ),
                    _ => Ok(rows),
                }
            }
            Derived::Roles => {
                let roles = self.shared.scan_inner("pg_roles", state).await?;
                with_role_oids(roles, &self.shared.roles)
            }
            Derived::AuthMembers => auth_members(&self.schema, &self.shared.roles),
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
        let (relations, declared) = (&snapshot.relations, &snapshot.declared);
        let class = &view.class;
        match table {
            RelationTable::Attribute => {
                let mut attributes = self.shared.scan_inner("pg_attribute", state).await?;
                if let Some(session) = &session {
                    attributes = session
                        .attributes(&self.shared.static_tables, attributes, &view, state)
                        .await?;
                }
                let marked = defaults::mark_attributes(attributes, relations, declared)?;
                as_text_arrays(&self.schema, marked)
            }
            RelationTable::Namespace => {
                let namespaces = acls::namespaces(
                    view.namespaces.clone(),
                    &self.shared.privileges(),
                    &self.shared.roles,
                )?;
                as_text_arrays(&self.schema, namespaces)
            }
            RelationTable::DefaultAcl => acls::default_acls(
                &self.schema,
                &view.namespaces,
                &self.shared.privileges(),
                &self.shared.roles,
            ),
            RelationTable::Depend => {
                let inner = self.shared.scan_inner("pg_depend", state).await?;
                depends::with_view_dependencies(inner, relations, &snapshot.views)
            }
            RelationTable::Description => {
                let inner = self.shared.scan_inner("pg_description", state).await?;
                descriptions::with_comments(
                    inner,
                    &snapshot.descriptions,
                    relations.namespace(crate::catalog::DEFAULT_SCHEMA),
                )
            }
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
                let all = concat_batches(&self.schema, [&relations_rows, &index_rows])?;
                let indexed: std::collections::HashSet<i32> = keys::keys(relations, declared)
                    .iter()
                    .map(|k| k.table_oid)
                    .collect();
                let owned = acls::relations(
                    all,
                    &view.namespaces,
                    &self.shared.privileges(),
                    &self.shared.roles,
                )?;
                with_index_flags(owned, &indexed)
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
