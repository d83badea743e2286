//! Column defaults in `pg_attrdef` and `pg_attribute.atthasdef`, where
//! SQLAlchemy's `get_columns()` and pgJDBC's `getColumns()` (COLUMN_DEF)
//! read them; and each column's declared type in `pg_attribute.atttypid`
//! and `atttypmod` (`varchar(80)`, `numeric(10,2)`, `uuid`), where the same
//! drivers, `\d` and `information_schema.columns` read it: the inner
//! provider knows only the Arrow type (`text` for all three).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int16Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result as DfResult;

use super::relations::{self, Relations};
use crate::catalog::DeclaredTable;
use crate::storage::types::pg_oid_and_typmod;

/// Synthetic OIDs of `pg_attrdef` rows (numbered in order).
const ATTRDEF_OID_BASE: i32 = 1_900_000_000;

/// `pg_attribute` with `atthasdef` true for the columns that have a DEFAULT.
pub(super) fn mark_attributes(
    attributes: RecordBatch,
    relations: &Relations,
    declared: &[DeclaredTable],
) -> DfResult<RecordBatch> {
    let mut with_default: HashMap<i32, Vec<&str>> = HashMap::new();
    let mut always: HashMap<i32, Vec<&str>> = HashMap::new();
    let mut types: HashMap<(i32, &str), (i32, i32)> = HashMap::new();
    for table in declared {
        if let Some(oid) = relations.oid(&table.name.schema, &table.name.name) {
            for column in &table.columns {
                if let Some(declared) = pg_oid_and_typmod(&column.pg_type) {
                    types.insert((oid, column.name.as_str()), declared);
                }
            }
            let names = table
                .columns
                .iter()
                .filter(|c| c.default.is_some())
                .map(|c| c.name.as_str());
            with_default.entry(oid).or_default().extend(names);
            let identity = table
                .columns
                .iter()
                .filter(|c| c.always_identity)
                .map(|c| c.name.as_str());
            always.entry(oid).or_default().extend(identity);
        }
    }
    let relid = relations::int32(&attributes, "attrelid")?;
    let name = relations::text(&attributes, "attname")?;
    let has_default: BooleanArray = (0..attributes.num_rows())
        .map(|i| {
            Some(
                with_default
                    .get(&relid.value(i))
                    .is_some_and(|names| names.contains(&name.value(i))),
            )
        })
        .collect();
    // `attidentity`: 'a' for GENERATED ALWAYS AS IDENTITY (BY DEFAULT
    // identity columns are kept as a nextval() default, as serial ones).
    let identity: StringArray = (0..attributes.num_rows())
        .map(|i| {
            let is_always = always
                .get(&relid.value(i))
                .is_some_and(|names| names.contains(&name.value(i)));
            Some(if is_always { "a" } else { "" })
        })
        .collect();
    let schema = attributes.schema();
    let mut columns = attributes.columns().to_vec();
    if let (Ok(type_at), Ok(mod_at)) = (schema.index_of("atttypid"), schema.index_of("atttypmod"))
        && let (Some(inner_type), Some(inner_mod)) = (
            columns[type_at].as_any().downcast_ref::<Int32Array>(),
            columns[mod_at].as_any().downcast_ref::<Int32Array>(),
        )
    {
        let declared: Vec<Option<(i32, i32)>> = (0..attributes.num_rows())
            .map(|i| types.get(&(relid.value(i), name.value(i))).copied())
            .collect();
        let type_oids: Int32Array = (0..attributes.num_rows())
            .map(|i| declared[i].map_or(inner_type.value(i), |d| d.0))
            .collect();
        let typmods: Int32Array = (0..attributes.num_rows())
            .map(|i| declared[i].map_or(inner_mod.value(i), |d| d.1))
            .collect();
        columns[type_at] = Arc::new(type_oids);
        columns[mod_at] = Arc::new(typmods);
    }
    columns[schema.index_of("atthasdef")?] = Arc::new(has_default);
    if let Ok(index) = schema.index_of("attidentity") {
        columns[index] = Arc::new(identity);
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

pub(super) fn attrdef(
    schema: &SchemaRef,
    relations: &Relations,
    declared: &[DeclaredTable],
) -> DfResult<RecordBatch> {
    let mut relid = Vec::new();
    let mut attnum = Vec::new();
    let mut expr = Vec::new();
    for table in declared {
        let Some(oid) = relations.oid(&table.name.schema, &table.name.name) else {
            continue;
        };
        for column in &table.columns {
            if let (Some(default), Some(num)) = (&column.default, table.attnum(&column.name)) {
                relid.push(oid);
                attnum.push(num);
                expr.push(default.clone());
            }
        }
    }
    let oids = (0..relid.len()).map(|i| ATTRDEF_OID_BASE.saturating_add(i as i32));
    super::rows::batch(
        schema,
        relid.len(),
        vec![
            ("oid", Arc::new(oids.collect::<Int32Array>()) as ArrayRef),
            ("adrelid", Arc::new(Int32Array::from(relid))),
            ("adnum", Arc::new(Int16Array::from(attnum))),
            ("adbin", Arc::new(StringArray::from(expr))),
        ],
    )
}
