//! Where a table's row-level security lives in the catalog file, for
//! `ALTER TABLE … ROW LEVEL SECURITY` and `CREATE/ALTER/DROP POLICY`: in
//! the table's entry, so that it goes with a drop, follows a rename and
//! takes part in a transaction as a grant does (catalog::grants).

use datafusion::common::DFSchema;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::sql::sqlparser::ast::{self, SelectItem, SetExpr};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::CatalogFile;
use super::names::QualifiedName;
use super::pg_rewrites;
use super::privileges::row_security::{RowSecurity, RowSecurityError};
use crate::error::{BrookError, Result};

/// Table `relation`'s row-level security in `file`; a view has none (and
/// is refused as PostgreSQL refuses it).
pub(super) fn get(file: &CatalogFile, relation: &QualifiedName) -> Result<RowSecurity> {
    if let Some(table) = file
        .tables
        .iter()
        .find(|t| t.schema == relation.schema && t.name == relation.name)
    {
        return Ok(table.row_security.clone());
    }
    Err(not_a_table(file, relation))
}

/// Set table `relation`'s row-level security in `file`.
pub(super) fn set(
    file: &mut CatalogFile,
    relation: &QualifiedName,
    security: RowSecurity,
) -> Result<()> {
    let error = not_a_table(file, relation);
    let table = file
        .tables
        .iter_mut()
        .find(|t| t.schema == relation.schema && t.name == relation.name)
        .ok_or(error)?;
    table.row_security = security;
    Ok(())
}

fn not_a_table(file: &CatalogFile, relation: &QualifiedName) -> BrookError {
    let is_view = file
        .views
        .iter()
        .any(|v| v.schema == relation.schema && v.name == relation.name);
    if is_view {
        BrookError::WrongObjectType(format!("\"{}\" is not a table", relation.name))
    } else {
        BrookError::UndefinedTable(relation.name.clone())
    }
}

/// A policy expression as the plan takes it: columns unqualified (the
/// rule qualifies them with the scan they filter), PostgreSQL's spellings
/// (`current_user`) rewritten as for any query, no subquery (a policy's
/// filter must reach a table's UPDATE and DELETE, which take plain
/// predicates only).
pub fn compile(state: &SessionState, columns: &DFSchema, sql: &str) -> Result<Expr> {
    let rewritten = pg_rewrites::rewrite(&format!("SELECT {sql}")).into_owned();
    let text = select_item(&rewritten).unwrap_or_else(|| sql.to_string());
    let expr = state.create_logical_expr(&text, columns)?;
    let mut subquery = false;
    expr.apply(|e| {
        subquery |= matches!(
            e,
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
        );
        Ok(TreeNodeRecursion::Continue)
    })?;
    if subquery {
        return Err(
            RowSecurityError::Unsupported("a subquery in a policy expression".into()).into(),
        );
    }
    let data_type = expr.get_type(columns)?;
    if !matches!(
        data_type,
        datafusion::arrow::datatypes::DataType::Boolean
            | datafusion::arrow::datatypes::DataType::Null
    ) {
        let name = crate::catalog::pg_scalar_functions::type_name(&data_type);
        return Err(RowSecurityError::NotBoolean(name).into());
    }
    Ok(expr)
}

/// The text of the one item of `SELECT <expr>`.
fn select_item(sql: &str) -> Option<String> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let [ast::Statement::Query(query)] = statements.as_slice() else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    match select.projection.as_slice() {
        [SelectItem::UnnamedExpr(e)] | [SelectItem::ExprWithAlias { expr: e, .. }] => {
            Some(e.to_string())
        }
        _ => None,
    }
}
