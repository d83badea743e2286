//! `pg_catalog.pg_policies`: one row per row-level security policy, as
//! PostgreSQL 15 shows them to every role (psql's `\d` reads `pg_policy`,
//! which datafusion-pg-catalog answers empty; this view is what people
//! query).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, ListBuilder, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Result as DfResult;

use super::{PUBLIC, Privileges};
use crate::catalog::system_table::{RowSource, SystemTable};

fn schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("schemaname", false),
        text("tablename", false),
        text("policyname", false),
        text("permissive", false),
        Field::new(
            "roles",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            false,
        ),
        text("cmd", false),
        text("qual", true),
        text("with_check", true),
    ]))
}

/// The table, answering from `privileges`.
pub fn table(privileges: Privileges) -> SystemTable {
    let schema = schema();
    let of = schema.clone();
    let rows: RowSource = Arc::new(move || rows(&privileges, &of));
    SystemTable::new(schema, rows)
}

fn rows(privileges: &Privileges, schema: &SchemaRef) -> DfResult<RecordBatch> {
    let roles = privileges.roles();
    let snapshot = privileges.snapshot();
    let mut tables: Vec<_> = snapshot.row_security.iter().collect();
    tables.sort_by(|a, b| a.0.cmp(b.0));
    let mut text: Vec<Vec<Option<String>>> = vec![vec![]; 7];
    let mut role_lists = ListBuilder::new(StringBuilder::new());
    for (table, policies) in tables {
        for policy in &policies.declared {
            let shown = |e: &Option<String>| e.as_ref().map(|e| format!("({e})"));
            let values = [
                Some(table.schema.clone()),
                Some(table.name.clone()),
                Some(policy.name.clone()),
                Some(
                    if policy.permissive {
                        "PERMISSIVE"
                    } else {
                        "RESTRICTIVE"
                    }
                    .to_string(),
                ),
                Some(policy.command.as_str().to_string()),
                shown(&policy.using),
                shown(&policy.with_check),
            ];
            for (column, value) in text.iter_mut().zip(values) {
                column.push(value);
            }
            for oid in &policy.roles {
                let name = if *oid == PUBLIC {
                    "public".to_string()
                } else {
                    roles.name_of(*oid)
                };
                role_lists.values().append_value(name);
            }
            role_lists.append(true);
        }
    }
    let mut columns: Vec<ArrayRef> = text
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
        .collect();
    columns.insert(4, Arc::new(role_lists.finish()));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
