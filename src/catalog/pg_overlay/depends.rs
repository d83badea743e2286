//! `pg_depend` rows for views: each view depends on the relations its
//! query reads (`deptype` `n`, as PostgreSQL records through the view's
//! rule). pg_dump orders what it writes by these: without them it wrote a
//! view before the table it reads (by name), and the dump did not restore.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Int32Array, RecordBatch, StringArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::common::Result as DfResult;
use datafusion::sql::sqlparser::ast::{ObjectName, Statement, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::catalog_oids::fixed_oid;
use super::relations::Relations;
use crate::catalog::names::{DEFAULT_SCHEMA, QualifiedName, split_text_name};

/// `inner` (datafusion-pg-catalog's rows) with a row per relation each of
/// `views` reads.
pub(super) fn with_view_dependencies(
    inner: RecordBatch,
    relations: &Relations,
    views: &[(QualifiedName, String)],
) -> DfResult<RecordBatch> {
    let class = fixed_oid("pg_class").unwrap_or(1259);
    let mut rows: Vec<(i32, i32)> = Vec::new();
    for (view, sql) in views {
        let Some(view_oid) = relations.oid(&view.schema, &view.name) else {
            continue;
        };
        for (schema, name) in read_relations(sql) {
            let found = match schema {
                Some(schema) => relations.oid(&schema, &name),
                None => relations
                    .oid("pg_catalog", &name)
                    .or_else(|| relations.oid(DEFAULT_SCHEMA, &name)),
            };
            if let Some(table) = found
                && table != view_oid
                && !rows.contains(&(view_oid, table))
            {
                rows.push((view_oid, table));
            }
        }
    }
    if rows.is_empty() {
        return Ok(inner);
    }
    let n = rows.len();
    let int = |values: Vec<i32>| Arc::new(Int32Array::from(values));
    let schema = inner.schema();
    let mut columns: Vec<datafusion::arrow::array::ArrayRef> = Vec::new();
    for field in schema.fields() {
        columns.push(match field.name().as_str() {
            "classid" | "refclassid" => int(vec![class; n]),
            "objid" => int(rows.iter().map(|(view, _)| *view).collect()),
            "refobjid" => int(rows.iter().map(|(_, table)| *table).collect()),
            "objsubid" | "refobjsubid" => int(vec![0; n]),
            "deptype" => Arc::new(StringArray::from(vec!["n"; n])),
            _ => datafusion::arrow::array::new_null_array(field.data_type(), n),
        });
    }
    let added = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(concat_batches(&schema, [&inner, &added])?)
}

/// The relations `CREATE VIEW … AS query` names: (schema if written, name).
fn read_relations(create_view: &str) -> Vec<(Option<String>, String)> {
    struct Names(Vec<(Option<String>, String)>);
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
            let parts = split_text_name(&relation.to_string());
            match parts.as_slice() {
                [name] => self.0.push((None, name.clone())),
                // dbt writes `database.schema.table`.
                [.., schema, name] => self.0.push((Some(schema.clone()), name.clone())),
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, create_view) else {
        return Vec::new();
    };
    let mut names = Names(Vec::new());
    for statement in &statements {
        if let Statement::CreateView(view) = statement {
            let _ = view.query.visit(&mut names);
        }
    }
    names.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_reads_the_relations_its_query_names() {
        let names = read_relations(
            "CREATE VIEW v AS SELECT * FROM items i JOIN other.counts c ON true WHERE i.id IN (SELECT id FROM \"Mixed\")",
        );
        assert_eq!(
            names,
            vec![
                (None, "items".to_string()),
                (Some("other".to_string()), "counts".to_string()),
                (None, "Mixed".to_string()),
            ]
        );
    }
}
