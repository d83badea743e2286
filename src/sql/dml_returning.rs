//! `UPDATE … RETURNING` and `DELETE … RETURNING`, which DataFusion 55 does
//! not plan ("Update-returning clause not yet supported"): ORMs read back
//! the rows they changed so (SQLAlchemy's `update(...).returning(...)`, a
//! server-set `updated_at`), and psql users check what they deleted.
//!
//! DataFusion plans the statement without RETURNING; the input of its
//! plan is exactly the affected rows — for DELETE as they were, for UPDATE
//! as they become (every column, SET values cast to the columns' types).
//! Brook runs that input once, inside one transaction (the session's or
//! the statement's own, [`super::upsert::in_one_transaction`]), then
//! deletes the rows the WHERE clause names and, for UPDATE, inserts the
//! new rows it computed. What RETURNING lists is therefore what was
//! written — `SET updated_at = now()` returns the stored time — and the
//! delete reads the same snapshot as the computation, so both see the
//! same rows. A WHERE clause that would not name the same rows twice
//! (`random()`) is refused rather than risk it.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, ParamValues};
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{DmlStatement, Expr, LogicalPlan, WriteOp};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{self, SelectItem, TableFactor};

use super::upsert::{in_one_transaction, returning};
use crate::catalog::names::normalize;
use crate::engine::Engine;
use crate::error::{BrookError, Result};

/// Whether `statement` is an UPDATE or DELETE with RETURNING.
pub fn handles(statement: &ast::Statement) -> bool {
    match statement {
        ast::Statement::Update(update) => update.returning.is_some(),
        ast::Statement::Delete(delete) => delete.returning.is_some(),
        _ => false,
    }
}

/// What an UPDATE or DELETE did: its command word and its RETURNING rows
/// (whose count is the statement's).
pub struct Changed {
    pub command: &'static str,
    pub returning: DataFrame,
}

/// The statement without RETURNING, the RETURNING items, the name the
/// statement calls its table by, and its command word.
struct Parts {
    plain: ast::Statement,
    items: Vec<SelectItem>,
    alias: Option<String>,
    command: &'static str,
}

fn table_alias(table: &ast::TableWithJoins) -> Option<String> {
    match &table.relation {
        TableFactor::Table {
            alias: Some(alias), ..
        } => Some(normalize(&alias.name)),
        _ => None,
    }
}

fn parts(statement: &ast::Statement) -> Option<Parts> {
    match statement {
        ast::Statement::Update(update) => {
            let items = update.returning.clone()?;
            let mut plain = update.clone();
            plain.returning = None;
            Some(Parts {
                alias: table_alias(&update.table),
                plain: ast::Statement::Update(plain),
                items,
                command: "UPDATE",
            })
        }
        ast::Statement::Delete(delete) => {
            let items = delete.returning.clone()?;
            let mut plain = delete.clone();
            plain.returning = None;
            let tables = match &delete.from {
                ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
            };
            Some(Parts {
                alias: tables.first().and_then(table_alias),
                plain: ast::Statement::Delete(plain),
                items,
                command: "DELETE",
            })
        }
        _ => None,
    }
}

async fn plain_plan(ctx: &SessionContext, plain: &ast::Statement) -> Result<DmlStatement> {
    let plan = ctx
        .state()
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            plain.clone(),
        )))
        .await?;
    match plan {
        LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Update | WriteOp::Delete) => Ok(dml),
        other => Err(BrookError::Internal(format!(
            "an UPDATE or DELETE planned as {}",
            other.display()
        ))),
    }
}

/// The columns RETURNING answers with, as a plan over the affected rows
/// (the extended protocol describes them, and the parameters, before the
/// statement runs).
pub async fn returning_plan(
    ctx: &SessionContext,
    statement: &ast::Statement,
) -> Result<LogicalPlan> {
    let parts =
        parts(statement).ok_or_else(|| BrookError::Internal("no RETURNING to describe".into()))?;
    let dml = plain_plan(ctx, &parts.plain).await?;
    let rows = DataFrame::new(ctx.state(), dml.input.as_ref().clone());
    let name = parts
        .alias
        .clone()
        .unwrap_or_else(|| dml.table_name.table().to_string());
    Ok(returning(rows, &name, &parts.items)?.into_unoptimized_plan())
}

/// The filter of the DELETE's input: the rows it removes.
fn filters(plan: &LogicalPlan) -> Vec<Expr> {
    let mut found = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::Filter(filter) = node {
            found.push(filter.predicate.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Run `statement` (with `params` bound, on the extended protocol).
pub async fn execute(
    engine: &Engine,
    ctx: &SessionContext,
    statement: &ast::Statement,
    params: Option<&ParamValues>,
) -> Result<Changed> {
    let parts =
        parts(statement).ok_or_else(|| BrookError::Internal("no RETURNING to run".into()))?;
    let (rows, schema, name) = in_one_transaction(engine, ctx, change(ctx, &parts, params)).await?;
    let table = MemTable::try_new(schema, vec![vec![rows]])?;
    let df = ctx.read_table(Arc::new(table))?;
    Ok(Changed {
        command: parts.command,
        returning: returning(df, &name, &parts.items)?,
    })
}

/// Inside the statement's transaction: the affected rows (old for DELETE,
/// new for UPDATE), computed once; the delete of the old rows; the insert
/// of the new ones.
async fn change(
    ctx: &SessionContext,
    parts: &Parts,
    params: Option<&ParamValues>,
) -> Result<(RecordBatch, SchemaRef, String)> {
    let mut dml = plain_plan(ctx, &parts.plain).await?;
    if let Some(params) = params {
        let LogicalPlan::Dml(bound) = LogicalPlan::Dml(dml).replace_params_with_values(params)?
        else {
            return Err(BrookError::Internal("a bound UPDATE is no UPDATE".into()));
        };
        dml = bound;
    }
    let predicates = filters(&dml.input);
    if predicates.iter().any(Expr::is_volatile) {
        return Err(BrookError::Unsupported(format!(
            "{} … RETURNING whose WHERE clause calls a volatile function (such as random()): \
             the rows returned could differ from the rows changed",
            parts.command
        )));
    }
    let name = parts
        .alias
        .clone()
        .unwrap_or_else(|| dml.table_name.table().to_string());
    let batches = ctx
        .execute_logical_plan(dml.input.as_ref().clone())
        .await?
        .collect()
        .await?;
    let schema: SchemaRef = Arc::new(dml.input.schema().as_arrow().clone());
    let rows = datafusion::arrow::compute::concat_batches(&schema, &batches)?;
    // Delete the rows the WHERE clause names: the statement's own filter,
    // over the table, in the same snapshot.
    let scan = dml
        .input
        .as_ref()
        .clone()
        .transform_up(|node| match node {
            LogicalPlan::Projection(projection) => {
                Ok(Transformed::yes(projection.input.as_ref().clone()))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    let delete = LogicalPlan::Dml(DmlStatement::new(
        dml.table_name.clone(),
        dml.target.clone(),
        WriteOp::Delete,
        Arc::new(scan),
    ));
    let deleted = ctx.execute_logical_plan(delete).await?.collect().await?;
    let deleted: u64 = deleted
        .iter()
        .filter_map(|b| b.column(0).as_any().downcast_ref::<UInt64Array>())
        .flat_map(|counts| counts.iter().flatten())
        .sum();
    if usize::try_from(deleted).ok() != Some(rows.num_rows()) {
        return Err(BrookError::Internal(format!(
            "{} … RETURNING computed {} rows but deleted {deleted}",
            parts.command,
            rows.num_rows()
        )));
    }
    if dml.op == WriteOp::Update && rows.num_rows() > 0 {
        let table_schema = dml.target.schema();
        let columns: Vec<Expr> = rows
            .schema()
            .fields()
            .iter()
            .zip(table_schema.fields())
            .map(|(field, column)| {
                Expr::Column(Column::new_unqualified(field.name())).alias(column.name())
            })
            .collect();
        ctx.read_batch(rows.clone())?
            .select(columns)?
            .write_table(&dml.table_name.to_string(), DataFrameWriteOptions::new())
            .await?;
    }
    Ok((rows, schema, name))
}
