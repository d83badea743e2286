//! OIDs as `pg_class` and `pg_namespace` hand them out at this moment:
//! datafusion-pg-catalog numbers relations itself (stable while they exist),
//! so Brook's rows that point at a relation read the number from there.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, Int32Array, RecordBatch, StringArray};
use datafusion::common::{DataFusionError, Result as DfResult};

/// Relation and namespace OIDs, both ways.
#[derive(Default)]
pub struct Relations {
    by_name: HashMap<(String, String), i32>,
    namespace_oid: HashMap<String, i32>,
    /// Relation OID → (schema, name).
    names: HashMap<i32, (String, String)>,
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
                .by_name
                .insert((schema.clone(), name.value(i).to_string()), oid.value(i));
            relations
                .names
                .insert(oid.value(i), (schema.clone(), name.value(i).to_string()));
        }
        Ok(relations)
    }

    /// The OID of relation `schema.name`.
    pub fn oid(&self, schema: &str, name: &str) -> Option<i32> {
        self.by_name
            .get(&(schema.to_string(), name.to_string()))
            .copied()
    }

    /// Relation `oid`'s schema and name.
    pub fn name_of(&self, oid: i32) -> Option<(String, String)> {
        self.names.get(&oid).cloned()
    }

    /// The OID of namespace `schema`.
    pub fn namespace(&self, schema: &str) -> Option<i32> {
        self.namespace_oid.get(schema).copied()
    }

    /// List relation `name` (an index Brook adds) beside `table`, visible
    /// where it is.
    pub fn add_like(&mut self, oid: i32, name: String, table: i32) {
        if let Some((schema, _)) = self.names.get(&table).cloned() {
            self.by_name.insert((schema.clone(), name.clone()), oid);
            self.names.insert(oid, (schema, name));
        }
    }

    /// The OID `name` denotes as a `regclass` (`t`, `s.t`, `"My T"`), a
    /// bare name looked up along `path` (catalog::settings::lookup_path).
    pub fn regclass(&self, name: &str, path: &[String]) -> Option<i32> {
        let parts = crate::catalog::names::split_text_name(name);
        match parts.as_slice() {
            [table] => path.iter().find_map(|schema| self.oid(schema, table)),
            [schema, table] => self.oid(schema, table),
            _ => None,
        }
    }

    /// A relation's name as `regclass` prints it: schema-qualified unless
    /// its bare name finds it along `path`.
    pub fn regclass_text(&self, oid: i32, path: &[String]) -> Option<String> {
        let visible = self.is_visible(oid, path)?;
        let (schema, name) = self.names.get(&oid)?;
        let name = crate::catalog::pg_format::quote_ident(name);
        Some(if visible {
            name
        } else {
            format!("{}.{name}", crate::catalog::pg_format::quote_ident(schema))
        })
    }

    /// Whether relation `oid` is the one its bare name finds along `path`
    /// (PostgreSQL's visibility: its schema is on the path and no schema
    /// before it has a relation of that name). None: no such relation.
    pub fn is_visible(&self, oid: i32, path: &[String]) -> Option<bool> {
        let (_, name) = self.names.get(&oid)?;
        Some(path.iter().find_map(|schema| self.oid(schema, name)) == Some(oid))
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
