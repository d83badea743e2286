//! OIDs as `pg_class` and `pg_namespace` hand them out at this moment:
//! datafusion-pg-catalog numbers relations itself (stable while they exist),
//! so Brook's rows that point at a relation read the number from there.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, Int32Array, RecordBatch, StringArray};
use datafusion::common::{DataFusionError, Result as DfResult};

/// The schemas a bare table name is looked up in (`search_path` is
/// `"$user", public`, with `pg_catalog` always searched).
const SEARCH_PATH: [&str; 2] = ["pg_catalog", "public"];

/// Relation and namespace OIDs, both ways.
#[derive(Default)]
pub struct Relations {
    by_name: HashMap<(String, String), i32>,
    namespace_oid: HashMap<String, i32>,
    /// Relation OID → whether its schema is on the search path.
    visible: HashMap<i32, bool>,
}

impl Relations {
    /// From whole scans of `pg_class` and `pg_namespace`.
    pub fn read(class: &RecordBatch, namespaces: &RecordBatch) -> DfResult<Self> {
        let ns_oid = int32(namespaces, "oid")?;
        let ns_name = text(namespaces, "nspname")?;
        let mut namespace_name = HashMap::new();
        let mut namespace_oid = HashMap::new();
        for i in 0..namespaces.num_rows() {
            namespace_name.insert(ns_oid.value(i), ns_name.value(i).to_string());
            namespace_oid.insert(ns_name.value(i).to_string(), ns_oid.value(i));
        }
        let oid = int32(class, "oid")?;
        let name = text(class, "relname")?;
        let namespace = int32(class, "relnamespace")?;
        let mut relations = Self {
            namespace_oid,
            ..Self::default()
        };
        for i in 0..class.num_rows() {
            let Some(schema) = namespace_name.get(&namespace.value(i)) else {
                continue;
            };
            relations
                .visible
                .insert(oid.value(i), SEARCH_PATH.contains(&schema.as_str()));
            relations
                .by_name
                .insert((schema.clone(), name.value(i).to_string()), oid.value(i));
        }
        Ok(relations)
    }

    /// The OID of relation `schema.name`.
    pub fn oid(&self, schema: &str, name: &str) -> Option<i32> {
        self.by_name
            .get(&(schema.to_string(), name.to_string()))
            .copied()
    }

    /// The OID of namespace `schema`.
    pub fn namespace(&self, schema: &str) -> Option<i32> {
        self.namespace_oid.get(schema).copied()
    }

    /// Whether relation `oid`'s schema is on the search path (None: no such
    /// relation).
    pub fn is_visible(&self, oid: i32) -> Option<bool> {
        self.visible.get(&oid).copied()
    }
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> DfResult<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} changed type")))
}

pub fn int32<'a>(batch: &'a RecordBatch, name: &str) -> DfResult<&'a Int32Array> {
    column(batch, name)
}

pub fn text<'a>(batch: &'a RecordBatch, name: &str) -> DfResult<&'a StringArray> {
    column(batch, name)
}
