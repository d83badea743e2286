//! `information_schema.table_privileges`: one row per privilege held on a
//! table or view, as PostgreSQL 15 lists them: the rows whose grantor or
//! grantee is the reader (or a role it is a member of) or PUBLIC; a
//! superuser sees them all. The owner's privileges are grantable.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Result as DfResult;

use super::{ObjectKind, PUBLIC, Privileges};
use crate::catalog::system_table::{SystemTable, ViewerRowSource};

const COLUMNS: [&str; 8] = [
    "grantor",
    "grantee",
    "table_catalog",
    "table_schema",
    "table_name",
    "privilege_type",
    "is_grantable",
    "with_hierarchy",
];

fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ))
}

/// The table, answering from `privileges`.
pub fn table(privileges: Privileges) -> SystemTable {
    let schema = schema();
    let of = schema.clone();
    let rows: ViewerRowSource = Arc::new(move |viewer: &str| rows(&privileges, &of, viewer));
    SystemTable::for_viewer(schema, rows)
}

fn rows(privileges: &Privileges, schema: &SchemaRef, viewer: &str) -> DfResult<RecordBatch> {
    let who = privileges.identity(viewer);
    let roles = privileges.roles();
    let name = |oid: i32| {
        if oid == PUBLIC {
            "PUBLIC".to_string()
        } else {
            roles.name_of(oid)
        }
    };
    let snapshot = privileges.snapshot();
    let mut relations: Vec<_> = snapshot.relations.iter().collect();
    relations.sort_by(|a, b| a.0.cmp(b.0));
    let mut columns: Vec<StringBuilder> = COLUMNS.iter().map(|_| StringBuilder::new()).collect();
    for (relation, (_, acl)) in relations {
        for item in acl.items(ObjectKind::Relation) {
            let visible = who.superuser
                || who.oids.contains(&item.grantee)
                || who.oids.contains(&item.grantor);
            if !visible {
                continue;
            }
            for privilege in item.privileges.iter() {
                let grantable = item.grantable.contains(privilege) || item.grantee == acl.owner;
                let values = [
                    name(item.grantor),
                    name(item.grantee),
                    crate::catalog::DATABASE.to_string(),
                    relation.schema.clone(),
                    relation.name.clone(),
                    privilege.keyword().to_string(),
                    if grantable { "YES" } else { "NO" }.to_string(),
                    if privilege == super::Privilege::Select {
                        "YES"
                    } else {
                        "NO"
                    }
                    .to_string(),
                ];
                for (column, value) in columns.iter_mut().zip(values) {
                    column.append_value(value);
                }
            }
        }
    }
    let arrays = columns
        .into_iter()
        .map(|mut c| Arc::new(c.finish()) as datafusion::arrow::array::ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}
