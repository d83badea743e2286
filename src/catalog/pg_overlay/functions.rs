//! Catalog functions that answer from the overlay's latest snapshot:
//! `pg_table_is_visible(oid)` (whether a relation's schema is on the search
//! path, so that `\dt`, SQLAlchemy's `get_table_names()` and BI schema
//! browsers list the user's tables and not `information_schema`'s;
//! datafusion-pg-catalog's says true for everything) and
//! `pg_get_indexdef(oid [, column, pretty])` and `pg_get_constraintdef(oid
//! [, pretty])` for the primary keys, and the text of a `regclass`.

use std::sync::{Arc, RwLock};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_int64_array;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, TypeSignature, Volatility};

use super::keys::{self, KeyObject};
use super::relations::Relations;
use super::session_rows::SessionRelations;
use crate::catalog::DeclaredTable;
use crate::catalog::names::QualifiedName;
use crate::catalog::search_path::SearchPath;
use crate::catalog::settings::{lookup_path, with_session};
use crate::storage::temp_tables::TEMP_SCHEMA;

/// What the latest scan of an overlay table saw. A query that calls these
/// functions on `c.oid` or `i.indexrelid` has scanned that table (at
/// planning, before any function runs), so the answer is current.
#[derive(Default)]
pub struct Snapshot(RwLock<Arc<Snapshotted>>);

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

/// What the catalog functions answer from, seen together.
#[derive(Default)]
pub struct Snapshotted {
    /// Relation and namespace OIDs.
    pub relations: Relations,
    pub declared: Vec<DeclaredTable>,
    /// The committed views: name and `CREATE VIEW` text.
    pub views: Vec<(QualifiedName, String)>,
    /// Brook's rows of `pg_description`.
    pub descriptions: Vec<super::descriptions::Description>,
}

impl Snapshot {
    pub(super) fn update(&self, seen: Snapshotted) -> Arc<Snapshotted> {
        let seen = Arc::new(seen);
        if let Ok(mut current) = self.0.write() {
            *current = seen.clone();
        }
        seen
    }

    fn current(&self) -> DfResult<Arc<Snapshotted>> {
        self.0
            .read()
            .map(|c| c.clone())
            .map_err(|_| DataFusionError::Internal("pg_catalog snapshot poisoned".into()))
    }
}

/// The snapshot the calling session's last read of the relations left,
/// and its search path for relations: `pg_temp` first when it has
/// temporary tables, as PostgreSQL searches it before `pg_catalog`.
/// `shared` serves contexts that are not a session's.
pub(super) fn seen(
    shared: &Snapshot,
    config: &ConfigOptions,
) -> DfResult<(Arc<Snapshotted>, Vec<String>)> {
    let mut path = lookup_path(config);
    match config.extensions.get::<SessionRelations>() {
        Some(session) => {
            if session.has_temp() {
                path.insert(0, TEMP_SCHEMA.to_string());
            }
            Ok((session.snapshot().current()?, path))
        }
        None => Ok((shared.current()?, path)),
    }
}

/// The arguments as arrays (DataFusion has checked their number against the
/// signature) and the row count.
pub(super) fn arrays(args: &[ColumnarValue]) -> DfResult<(Vec<ArrayRef>, usize)> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let rows = arrays.first().map_or(0, |a| a.len());
    Ok((arrays, rows))
}

/// NULL for an OID that names no relation, as in PostgreSQL. Visibility
/// follows the calling session's search path.
pub fn pg_table_is_visible(snapshot: Arc<Snapshot>) -> ScalarUDF {
    let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let (arrays, _) = arrays(args)?;
        let oids = oids(&arrays[0])?;
        let (current, path) = seen(&snapshot, config)?;
        let answers: BooleanArray = oids
            .iter()
            .map(|oid| {
                oid.and_then(|oid| i32::try_from(oid).ok())
                    .and_then(|oid| current.relations.is_visible(oid, &path))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(answers) as ArrayRef))
    };
    // Volatile: never folded at planning, before pg_class has been scanned.
    with_session(
        "pg_table_is_visible",
        oid_signature(&[]),
        DataType::Boolean,
        Arc::new(function),
    )
}

/// `CREATE UNIQUE INDEX … USING btree (…)` for a key's index, or with a
/// column number the name of that key column; NULL for any other OID.
pub fn pg_get_indexdef(snapshot: Arc<Snapshot>) -> ScalarUDF {
    let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let (arrays, rows) = arrays(args)?;
        let columns = arrays.get(1).map(oids).transpose()?;
        let oids = oids(&arrays[0])?;
        let (current, _) = seen(&snapshot, config)?;
        let keys = keys::keys(&current.relations, &current.declared);
        let defs: StringArray = (0..rows)
            .map(|row| {
                if oids.is_null(row) {
                    return None;
                }
                let oid = i32::try_from(oids.value(row)).ok()?;
                let key = keys::key_owning(oid, KeyObject::Index, &keys)?;
                let column = columns
                    .as_ref()
                    .map_or(0, |c| if c.is_null(row) { 0 } else { c.value(row) });
                if column > 0 {
                    let index = usize::try_from(column - 1).ok()?;
                    return key.columns.get(index).cloned();
                }
                Some(format!(
                    "CREATE UNIQUE INDEX {} ON {}.{} USING btree ({})",
                    key.name,
                    key.table.name.schema,
                    key.table.name.name,
                    key.columns.join(", ")
                ))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(defs) as ArrayRef))
    };
    let signature = Signature::one_of(
        vec![
            TypeSignature::Exact(vec![DataType::Int32]),
            TypeSignature::Exact(vec![DataType::Int64]),
            TypeSignature::Exact(vec![DataType::Int32, DataType::Int32, DataType::Boolean]),
            TypeSignature::Exact(vec![DataType::Int32, DataType::Int64, DataType::Boolean]),
            TypeSignature::Exact(vec![DataType::Int64, DataType::Int64, DataType::Boolean]),
        ],
        Volatility::Volatile,
    );
    with_session(
        "pg_get_indexdef",
        signature,
        DataType::Utf8,
        Arc::new(function),
    )
}

/// An OID argument as i32 (Int32 or Int64 on the wire).
pub(super) fn oids(array: &ArrayRef) -> DfResult<datafusion::arrow::array::Int64Array> {
    let wide = datafusion::arrow::compute::cast(array, &DataType::Int64)?;
    Ok(as_int64_array(&wide)?.clone())
}

pub(super) fn oid_signature(extra: &[DataType]) -> Signature {
    let forms = [DataType::Int32, DataType::Int64]
        .into_iter()
        .flat_map(|oid| {
            let mut with = vec![oid.clone()];
            with.extend_from_slice(extra);
            [TypeSignature::Exact(vec![oid]), TypeSignature::Exact(with)]
        })
        .collect();
    Signature::one_of(forms, Volatility::Volatile)
}

/// `PRIMARY KEY (a, b)` / `UNIQUE (a)` for a key's constraint; NULL for
/// any other OID.
pub fn pg_get_constraintdef(snapshot: Arc<Snapshot>) -> ScalarUDF {
    let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let (arrays, _) = arrays(args)?;
        let oids = oids(&arrays[0])?;
        let (current, _) = seen(&snapshot, config)?;
        let keys = keys::keys(&current.relations, &current.declared);
        let defs: StringArray = oids
            .iter()
            .map(|oid| {
                let oid = i32::try_from(oid?).ok()?;
                let key = keys::key_owning(oid, KeyObject::Constraint, &keys)?;
                Some(key.definition())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(defs) as ArrayRef))
    };
    with_session(
        "pg_get_constraintdef",
        oid_signature(&[DataType::Boolean]),
        DataType::Utf8,
        Arc::new(function),
    )
}

/// `oid::regclass::text`: the relation's (schema-qualified when not on the
/// search path) name, or the OID's digits for no relation, as PostgreSQL
/// prints them. Reached through the rewrite of `::regclass::text`.
pub fn regclass_text(snapshot: Arc<Snapshot>) -> ScalarUDF {
    let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let (arrays, _) = arrays(args)?;
        let oids = oids(&arrays[0])?;
        let (current, path) = seen(&snapshot, config)?;
        let texts: StringArray = oids
            .iter()
            .map(|oid| {
                let oid = oid?;
                Some(
                    i32::try_from(oid)
                        .ok()
                        .and_then(|o| current.relations.regclass_text(o, &path))
                        .unwrap_or_else(|| oid.to_string()),
                )
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(texts) as ArrayRef))
    };
    with_session(
        REGCLASS_TEXT,
        oid_signature(&[]),
        DataType::Utf8,
        Arc::new(function),
    )
}

/// The name the `::regclass::text` rewrite calls.
pub const REGCLASS_TEXT: &str = "brook_regclass_text";

/// `expr::regclass` for a computed name (a constant one datafusion-pg-catalog
/// resolves): the OID of the relation `name` or `schema.name` (quoted parts
/// as PostgreSQL quotes them), a bare name looked up on the search path.
pub fn regclass_of_name(snapshot: Arc<Snapshot>) -> ScalarUDF {
    let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let (arrays, _) = arrays(args)?;
        let names = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
        let names = datafusion::common::cast::as_string_array(&names)?;
        let (current, path) = seen(&snapshot, config)?;
        let oids = names
            .iter()
            .map(|name| {
                let Some(name) = name else {
                    return Ok(None);
                };
                current
                    .relations
                    .regclass(name, &path)
                    .map(Some)
                    .ok_or_else(|| {
                        crate::error::external(crate::error::BrookError::UndefinedTable(
                            name.to_string(),
                        ))
                    })
            })
            .collect::<DfResult<datafusion::arrow::array::Int32Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(oids) as ArrayRef))
    };
    with_session(
        REGCLASS_OF_NAME,
        Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8View]),
                TypeSignature::Exact(vec![DataType::LargeUtf8]),
            ],
            Volatility::Volatile,
        ),
        DataType::Int32,
        Arc::new(function),
    )
}

/// The name the rewrite of a computed `::regclass` calls.
pub const REGCLASS_OF_NAME: &str = "brook_regclass";

/// The name the rewrite of a constant `'name'::regclass` calls.
pub const REGCLASS_FOUND: &str = "brook_regclass_found";

/// `brook_regclass_found(oid, name)`: the OID a constant `name::regclass`
/// looked up in `pg_class`, or PostgreSQL's 42P01 when the lookup found
/// none (a NULL would make `classid = 'pg_nope'::regclass` quietly false).
pub fn regclass_found() -> ScalarUDF {
    let function = |args: &[ColumnarValue]| -> DfResult<ColumnarValue> {
        let (arrays, _) = arrays(args)?;
        let oids = datafusion::arrow::compute::cast(&arrays[0], &DataType::Int32)?;
        let oids = datafusion::common::cast::as_int32_array(&oids)?;
        let names = datafusion::arrow::compute::cast(&arrays[1], &DataType::Utf8)?;
        let names = datafusion::common::cast::as_string_array(&names)?;
        for i in 0..oids.len() {
            if oids.is_null(i) {
                let name = if names.is_null(i) { "" } else { names.value(i) };
                return Err(crate::error::external(
                    crate::error::BrookError::UndefinedTable(name.to_string()),
                ));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(oids.clone()) as ArrayRef))
    };
    datafusion::logical_expr::create_udf(
        REGCLASS_FOUND,
        vec![DataType::Int32, DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(function),
    )
}

/// `pg_get_viewdef(oid [, pretty])`: the query of view `oid` with its
/// relation names written out in full (as bound when the view was made),
/// so that pg_dump's `CREATE VIEW … AS <this>` restores under its empty
/// search path. NULL for an OID that is no view, as in PostgreSQL. Views
/// created in the calling session's open transaction are not seen yet.
pub fn pg_get_viewdef(
    snapshot: Arc<Snapshot>,
    database: Arc<dyn datafusion::catalog::CatalogProvider>,
) -> ScalarUDF {
    let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let (arrays, _) = arrays(args)?;
        let oids = oids(&arrays[0])?;
        let (current, _) = seen(&snapshot, config)?;
        let path = SearchPath::new(database.clone(), crate::catalog::names::DEFAULT_SCHEMA, "");
        let defs: StringArray = oids
            .iter()
            .map(|oid| {
                let oid = i32::try_from(oid?).ok()?;
                let (schema, name) = current.relations.name_of(oid)?;
                let (_, sql) = current
                    .views
                    .iter()
                    .find(|(view, _)| view.schema == schema && view.name == name)?;
                view_query(sql, &path)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(defs) as ArrayRef))
    };
    with_session(
        "pg_get_viewdef",
        oid_signature(&[DataType::Boolean]),
        DataType::Utf8,
        Arc::new(function),
    )
}

/// The query of `CREATE VIEW … AS query` with its bare relation names
/// resolved as they were when the view was made (the default path).
fn view_query(create_view: &str, path: &SearchPath) -> Option<String> {
    use datafusion::sql::sqlparser::ast::Statement;
    let statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        create_view,
    )
    .ok()?;
    let Some(Statement::CreateView(view)) = statements.into_iter().next() else {
        return None;
    };
    let mut query = *view.query;
    path.qualify(&mut query);
    // `database.schema.table` (dbt writes its views so) as PostgreSQL
    // prints it: without the database, which no name may cross.
    let _ = datafusion::sql::sqlparser::ast::visit_relations_mut(&mut query, |name| {
        if name.0.len() == 3 {
            name.0.remove(0);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Some(format!(" {query};"))
}

/// `pg_get_triggerdef(oid [, pretty])`: Brook has no triggers, so no OID
/// names one and the answer is NULL, as PostgreSQL's for an unknown OID.
pub fn pg_get_triggerdef() -> ScalarUDF {
    ScalarUDF::new_from_impl(
        datafusion::logical_expr::SimpleScalarUDF::new_with_signature(
            "pg_get_triggerdef",
            oid_signature(&[DataType::Boolean]),
            DataType::Utf8,
            Arc::new(|args: &[ColumnarValue]| -> DfResult<ColumnarValue> {
                let (_, rows) = arrays(args)?;
                Ok(ColumnarValue::Array(
                    datafusion::arrow::array::new_null_array(&DataType::Utf8, rows),
                ))
            }),
        ),
    )
}
