//! `pg_constraint` and `pg_index` rows for PRIMARY KEYs and UNIQUE
//! constraints: what SQLAlchemy's `get_pk_constraint()` and
//! `get_unique_constraints()`, pgJDBC's `getPrimaryKeys()` and DBeaver read
//! a table's keys from. Brook has no secondary indexes, so the only index
//! rows are the keys' own.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int16Array, Int32Array, ListArray, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Int16Type, Int32Type, Schema, SchemaRef,
};
use datafusion::common::Result as DfResult;

use super::RelationTable;
use super::relations::Relations;
use crate::catalog::DeclaredTable;

/// Synthetic OIDs for a key's constraint and index, offset from the
/// table's own (which pg_class hands out from 16384 up, far below these):
/// `base + table_oid * KEYS_PER_TABLE + the key's position`.
const CONSTRAINT_OID_BASE: i32 = 1_000_000_000;
const INDEX_OID_BASE: i32 = 1_500_000_000;
/// Keys per table that get catalog rows (the PRIMARY KEY and 63 UNIQUE).
const KEYS_PER_TABLE: i32 = 64;

/// Where a session's own tables' keys are numbered from (the shared
/// tables' offsets, table OID × 64, stay below it while table OIDs stay
/// below 1.56 million).
const SESSION_KEYS: i32 = 100_000_000;

/// A key's offset from the OID bases: by its table's OID, and for a table
/// only one session sees (its OID in that session's range) by the table's
/// place in that range, so that the sum never leaves `i32`.
fn key_offset(table_oid: i32, position: i32) -> i32 {
    if table_oid >= super::session_rows::FIRST_SESSION_OID {
        let place = (table_oid - super::session_rows::FIRST_SESSION_OID)
            .rem_euclid(super::session_rows::SESSION_SPAN);
        SESSION_KEYS + place * KEYS_PER_TABLE + position
    } else {
        table_oid.saturating_mul(KEYS_PER_TABLE) + position
    }
}

/// The inner table's schema with the key columns as arrays of attribute
/// numbers (PostgreSQL's `int2[]`/`int2vector`), which clients `unnest`.
pub(super) fn schema(table: RelationTable, inner: &SchemaRef) -> SchemaRef {
    // int2vector / int2[] columns hold attribute numbers and options;
    // oidvector ones hold OIDs.
    let (int2, oid): (&[&str], &[&str]) = match table {
        RelationTable::Constraint => (&["conkey", "confkey"], &[]),
        RelationTable::Index => (&["indkey", "indoption"], &["indcollation", "indclass"]),
        _ => (&[], &[]),
    };
    let fields: Vec<Field> = inner
        .fields()
        .iter()
        .map(|f| {
            let name = f.name().as_str();
            if int2.contains(&name) {
                Field::new(name, list_of(DataType::Int16), f.is_nullable())
            } else if oid.contains(&name) {
                Field::new(name, list_of(DataType::Int32), f.is_nullable())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

/// One declared key with the OIDs its rows use.
pub(super) struct Key<'a> {
    pub table: &'a DeclaredTable,
    /// The constraint's (and its index's) name.
    pub name: String,
    pub columns: &'a [String],
    pub primary: bool,
    /// This key's offset from the OID bases.
    offset: i32,
    pub(super) table_oid: i32,
    namespace_oid: i32,
    attnums: Vec<i16>,
}

impl Key<'_> {
    /// `PRIMARY KEY (a, b)` / `UNIQUE (a)`, as `pg_get_constraintdef` says.
    pub fn definition(&self) -> String {
        let kind = if self.primary {
            "PRIMARY KEY"
        } else {
            "UNIQUE"
        };
        let nulls = match self.table.unique.iter().find(|u| u.name == self.name) {
            Some(u) if !u.nulls_distinct => " NULLS NOT DISTINCT",
            _ => "",
        };
        format!("{kind}{nulls} ({})", self.columns.join(", "))
    }
}

pub(super) fn keys<'a>(relations: &Relations, declared: &'a [DeclaredTable]) -> Vec<Key<'a>> {
    let mut keys = Vec::new();
    for table in declared {
        let (Some(table_oid), Some(namespace_oid)) = (
            relations.oid(&table.name.schema, &table.name.name),
            relations.namespace(&table.name.schema),
        ) else {
            continue;
        };
        let primary = (!table.primary_key.is_empty()).then(|| {
            (
                format!("{}_pkey", table.name.name),
                &table.primary_key,
                true,
            )
        });
        let unique = table
            .unique
            .iter()
            .map(|u| (u.name.clone(), &u.columns, false));
        for (position, (name, columns, primary)) in primary.into_iter().chain(unique).enumerate() {
            let Ok(position) = i32::try_from(position) else {
                break;
            };
            if position >= KEYS_PER_TABLE {
                break;
            }
            let Some(attnums) = columns.iter().map(|c| table.attnum(c)).collect() else {
                continue;
            };
            keys.push(Key {
                table,
                name,
                columns,
                primary,
                offset: key_offset(table_oid, position),
                table_oid,
                namespace_oid,
                attnums,
            });
        }
    }
    keys
}

/// Give the keys' indexes the visibility of their tables (psql's `\di`).
pub(super) fn show_indexes(relations: &mut Relations, declared: &[DeclaredTable]) {
    let indexes: Vec<(i32, String, i32)> = keys(relations, declared)
        .iter()
        .map(|k| (INDEX_OID_BASE + k.offset, k.name.clone(), k.table_oid))
        .collect();
    for (index, name, table) in indexes {
        relations.add_like(index, name, table);
    }
}

/// The objects a key gives rise to, each with its own OID range.
#[derive(Clone, Copy)]
pub(super) enum KeyObject {
    Constraint,
    Index,
}

/// The key among `keys` whose constraint or index has OID `oid`.
pub(super) fn key_owning<'k, 'a>(
    oid: i32,
    object: KeyObject,
    keys: &'k [Key<'a>],
) -> Option<&'k Key<'a>> {
    let base = match object {
        KeyObject::Constraint => CONSTRAINT_OID_BASE,
        KeyObject::Index => INDEX_OID_BASE,
    };
    let offset = oid.checked_sub(base)?;
    keys.iter().find(|k| k.offset == offset)
}

/// Each key's number of columns (`indnatts`, `relnatts` of its index).
fn widths(keys: &[Key]) -> ArrayRef {
    Arc::new(
        keys.iter()
            .map(|k| i16::try_from(k.attnums.len()).unwrap_or(i16::MAX))
            .collect::<Int16Array>(),
    )
}

fn attnum_lists(keys: &[Key]) -> ArrayRef {
    Arc::new(ListArray::from_iter_primitive::<Int16Type, _, _>(
        keys.iter()
            .map(|k| Some(k.attnums.iter().map(|a| Some(*a)).collect::<Vec<_>>())),
    ))
}

fn zeros<T: ArrowPrimitiveType>(keys: &[Key]) -> ArrayRef
where
    T::Native: Default,
{
    Arc::new(ListArray::from_iter_primitive::<T, _, _>(keys.iter().map(
        |k| {
            Some(
                k.attnums
                    .iter()
                    .map(|_| Some(T::Native::default()))
                    .collect::<Vec<_>>(),
            )
        },
    )))
}

fn int32s(keys: &[Key], f: impl Fn(&Key) -> i32) -> ArrayRef {
    Arc::new(keys.iter().map(f).collect::<Int32Array>())
}

fn texts(keys: &[Key], f: impl Fn(&Key) -> String) -> ArrayRef {
    Arc::new(keys.iter().map(|k| Some(f(k))).collect::<StringArray>())
}

fn bools(keys: &[Key], value: bool) -> ArrayRef {
    Arc::new(BooleanArray::from(vec![value; keys.len()]))
}

pub(super) fn constraints(
    schema: &SchemaRef,
    relations: &Relations,
    declared: &[DeclaredTable],
) -> DfResult<RecordBatch> {
    let keys = keys(relations, declared);
    super::rows::batch(
        schema,
        keys.len(),
        vec![
            ("oid", int32s(&keys, |k| CONSTRAINT_OID_BASE + k.offset)),
            ("conname", texts(&keys, |k| k.name.clone())),
            ("connamespace", int32s(&keys, |k| k.namespace_oid)),
            (
                "contype",
                texts(&keys, |k| if k.primary { "p" } else { "u" }.to_string()),
            ),
            ("convalidated", bools(&keys, true)),
            ("conrelid", int32s(&keys, |k| k.table_oid)),
            ("conindid", int32s(&keys, |k| INDEX_OID_BASE + k.offset)),
            ("confupdtype", texts(&keys, |_| " ".to_string())),
            ("confdeltype", texts(&keys, |_| " ".to_string())),
            ("confmatchtype", texts(&keys, |_| " ".to_string())),
            ("conislocal", bools(&keys, true)),
            ("connoinherit", bools(&keys, true)),
            ("conkey", attnum_lists(&keys)),
        ],
    )
}

/// The keys' indexes as `pg_class` rows (relkind `i`, btree): pgJDBC's
/// `getPrimaryKeys()` names a key by joining its index to `pg_class`.
pub(super) fn index_classes(
    schema: &SchemaRef,
    relations: &Relations,
    declared: &[DeclaredTable],
) -> DfResult<RecordBatch> {
    /// `pg_am.oid` of btree.
    const BTREE: i32 = 403;
    let keys = keys(relations, declared);
    let widths = widths(&keys);
    super::rows::batch(
        schema,
        keys.len(),
        vec![
            ("oid", int32s(&keys, |k| INDEX_OID_BASE + k.offset)),
            ("relname", texts(&keys, |k| k.name.clone())),
            ("relnamespace", int32s(&keys, |k| k.namespace_oid)),
            ("relam", int32s(&keys, |_| BTREE)),
            ("relkind", texts(&keys, |_| "i".to_string())),
            ("relpersistence", texts(&keys, |_| "p".to_string())),
            ("relreplident", texts(&keys, |_| "n".to_string())),
            ("relispopulated", bools(&keys, true)),
            ("relnatts", widths),
        ],
    )
}

pub(super) fn indexes(
    schema: &SchemaRef,
    relations: &Relations,
    declared: &[DeclaredTable],
) -> DfResult<RecordBatch> {
    let keys = keys(relations, declared);
    let widths = widths(&keys);
    super::rows::batch(
        schema,
        keys.len(),
        vec![
            ("indexrelid", int32s(&keys, |k| INDEX_OID_BASE + k.offset)),
            ("indrelid", int32s(&keys, |k| k.table_oid)),
            ("indnatts", widths.clone()),
            ("indnkeyatts", widths),
            ("indisunique", bools(&keys, true)),
            (
                "indisprimary",
                Arc::new(
                    keys.iter()
                        .map(|k| Some(k.primary))
                        .collect::<BooleanArray>(),
                ),
            ),
            ("indimmediate", bools(&keys, true)),
            ("indisvalid", bools(&keys, true)),
            ("indisready", bools(&keys, true)),
            ("indislive", bools(&keys, true)),
            ("indkey", attnum_lists(&keys)),
            // Default collation, operator class and options for each key column.
            ("indcollation", zeros::<Int32Type>(&keys)),
            ("indclass", zeros::<Int32Type>(&keys)),
            ("indoption", zeros::<Int16Type>(&keys)),
        ],
    )
}
