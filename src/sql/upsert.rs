//! `INSERT … ON CONFLICT (key) DO NOTHING | DO UPDATE SET …` and
//! `INSERT … RETURNING`, which DataFusion does not plan: what ORMs emit
//! for upserts and to read back the rows they wrote.
//!
//! DataFusion plans the INSERT without them; its input is exactly the rows
//! to be written (defaults filled, values cast to the columns). Brook runs
//! that input once, then decides per row against the table's key that the
//! clause names (PRIMARY KEY or UNIQUE; every key for a bare DO NOTHING)
//! as the session sees it (its snapshot inside a transaction): DO NOTHING
//! drops the rows whose key exists (or came earlier in the statement); DO
//! UPDATE replaces each existing row by the SET expressions over it and
//! `excluded`, as a delete of those keys and an insert of the new rows.
//! Everything is written in one transaction (the session's, or one of its
//! own), so a concurrent writer of the same rows makes the second commit
//! fail with 40001 or 23505: an error, never a lost or doubled row.
//! RETURNING is evaluated over the rows as written.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::common::{JoinType, ParamValues, ScalarValue, TableReference};
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{
    DmlStatement, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, WriteOp, and, col, lit, or,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, ConflictTarget, OnConflictAction, OnInsert, SelectItem,
};

use crate::catalog::QualifiedName;
use crate::catalog::names::normalize;
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::constraints::UniqueKey;
use crate::storage::transaction::{BlockState, SessionTransaction};

/// Whether `insert` needs this module.
pub fn handles(insert: &ast::Insert) -> bool {
    insert.returning.is_some() || insert.on.is_some()
}

/// What an INSERT did: how many rows it wrote, and its RETURNING rows.
pub struct Inserted {
    pub rows: usize,
    pub returning: Option<DataFrame>,
}

/// DataFusion's plan of `insert` without ON CONFLICT and RETURNING.
pub async fn plain_plan(ctx: &SessionContext, insert: &ast::Insert) -> Result<DmlStatement> {
    let mut plain = insert.clone();
    plain.on = None;
    plain.returning = None;
    // The alias names the table in ON CONFLICT and RETURNING only.
    plain.table_alias = None;
    let plan = ctx
        .state()
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            ast::Statement::Insert(plain),
        )))
        .await?;
    match plan {
        LogicalPlan::Dml(dml) => Ok(dml),
        other => Err(BrookError::Internal(format!(
            "an INSERT planned as {}",
            other.display()
        ))),
    }
}

/// The columns RETURNING answers with, as a plan over the rows the INSERT
/// would write (the extended protocol describes them before it runs).
pub async fn returning_plan(ctx: &SessionContext, insert: &ast::Insert) -> Result<LogicalPlan> {
    let dml = plain_plan(ctx, insert).await?;
    let rows = DataFrame::new(ctx.state(), dml.input.as_ref().clone());
    let items = insert.returning.as_deref().unwrap_or_default();
    Ok(returning(rows, &alias(insert, &dml.table_name), items)?.into_unoptimized_plan())
}

/// The name the statement calls its table by (`INSERT INTO t AS x`).
fn alias(insert: &ast::Insert, table: &TableReference) -> String {
    insert
        .table_alias
        .as_ref()
        .map(|a| normalize(&a.alias))
        .unwrap_or_else(|| table.table().to_string())
}

/// Run `insert` (with `params` bound, on the extended protocol).
pub async fn execute(
    engine: &Engine,
    ctx: &SessionContext,
    insert: &ast::Insert,
    params: Option<&ParamValues>,
) -> Result<Inserted> {
    let mut dml = plain_plan(ctx, insert).await?;
    let who = super::authorize::identity(engine, ctx);
    let default_schema = ctx
        .state()
        .config()
        .options()
        .catalog
        .default_schema
        .clone();
    if let Some(table) =
        crate::catalog::privileges::plan_check::qualified(&dml.table_name, &default_schema)
    {
        super::authorize::refuse_row_security(
            engine.catalog.privileges(),
            &who,
            &table,
            "INSERT … ON CONFLICT",
        )?;
    }
    if let Some(params) = params {
        let plan = LogicalPlan::Dml(dml).replace_params_with_values(params)?;
        let LogicalPlan::Dml(bound) = plan else {
            return Err(BrookError::Internal("a bound INSERT is no INSERT".into()));
        };
        dml = bound;
    }
    let proposed = ctx
        .execute_logical_plan(dml.input.as_ref().clone())
        .await?
        .collect()
        .await?;
    let schema: SchemaRef = match proposed.first() {
        Some(b) => b.schema(),
        None => Arc::new(dml.input.schema().as_arrow().clone()),
    };
    let proposed = concat(&schema, &proposed)?;
    let name = alias(insert, &dml.table_name);
    // One transaction for the delete and the inserts.
    let written =
        in_one_transaction(engine, ctx, write(engine, ctx, insert, &dml, proposed)).await?;
    let rows = written.num_rows();
    let returning = match insert.returning.as_deref() {
        Some(items) => {
            let table = MemTable::try_new(schema.clone(), vec![vec![written]])?;
            let df = ctx.read_table(Arc::new(table))?;
            Some(self::returning(df, &name, items)?)
        }
        None => None,
    };
    Ok(Inserted { rows, returning })
}

/// Run `work` in one transaction: the session's, or, outside a block, one
/// of the statement's own (committed when `work` succeeds, rolled back
/// when it fails), so that a statement that deletes and inserts is atomic
/// and a concurrent writer of the same rows makes it fail (40001, 23505)
/// rather than lose or double a row. `work` must not have started.
pub(crate) async fn in_one_transaction<T>(
    engine: &Engine,
    ctx: &SessionContext,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let slot = SessionTransaction::of(ctx.state_ref().read().config());
    let own = match &slot {
        Some(slot) if slot.state() == BlockState::Idle => {
            slot.begin();
            let catalog = engine.catalog.clone();
            slot.start_statement(|| catalog.all_tables());
            true
        }
        _ => false,
    };
    let outcome = work.await;
    match (outcome, &slot) {
        (Ok(done), Some(slot)) if own => {
            slot.commit().await?;
            Ok(done)
        }
        (Err(e), Some(slot)) if own => {
            slot.abort();
            Err(e)
        }
        (outcome, _) => outcome,
    }
}

/// Write `proposed` as the statement's ON CONFLICT clause says; the rows
/// written, as they now are in the table.
async fn write(
    engine: &Engine,
    ctx: &SessionContext,
    insert: &ast::Insert,
    dml: &DmlStatement,
    proposed: RecordBatch,
) -> Result<RecordBatch> {
    let Some(on) = &insert.on else {
        append(ctx, dml, proposed.clone()).await?;
        return Ok(proposed);
    };
    let OnInsert::OnConflict(conflict) = on else {
        return Err(BrookError::Unsupported(
            "ON DUPLICATE KEY UPDATE (MySQL); use ON CONFLICT (key) DO UPDATE".into(),
        ));
    };
    let arbiters = conflict_keys(engine, ctx, dml, conflict).await?;
    match &conflict.action {
        OnConflictAction::DoNothing => {
            // Row by row, as PostgreSQL does: a row conflicting on any
            // arbiter, with a stored row or an earlier one of the
            // statement, is skipped; the others are written.
            let mut checks = Vec::with_capacity(arbiters.len());
            for key in &arbiters {
                let keys = key_rows(&proposed, &key.columns)?;
                let existing = existing_keys(ctx, dml, &proposed, &key.columns).await?;
                let nulls = null_keys(&proposed, key)?;
                checks.push((keys, existing, nulls, HashSet::new()));
            }
            let keep: BooleanArray = (0..proposed.num_rows())
                .map(|row| {
                    let conflicts = checks.iter().any(|(keys, existing, nulls, seen)| {
                        !nulls[row] && (existing.contains(&keys[row]) || seen.contains(&keys[row]))
                    });
                    if !conflicts {
                        for (keys, _, nulls, seen) in &mut checks {
                            if !nulls[row] {
                                seen.insert(keys[row].clone());
                            }
                        }
                    }
                    Some(!conflicts)
                })
                .collect();
            let fresh = filter_record_batch(&proposed, &keep)?;
            append(ctx, dml, fresh.clone()).await?;
            Ok(fresh)
        }
        OnConflictAction::DoUpdate(update) => {
            let [key] = arbiters.as_slice() else {
                return Err(BrookError::Internal(
                    "DO UPDATE with more than one arbiter key".into(),
                ));
            };
            let key = key.columns.as_slice();
            let keys = key_rows(&proposed, key)?;
            let existing = existing_keys(ctx, dml, &proposed, key).await?;
            let nulls = null_keys(&proposed, &arbiters[0])?;
            let mut seen = HashSet::new();
            for (k, null) in keys.iter().zip(&nulls) {
                if !null && !seen.insert(k.clone()) {
                    return Err(BrookError::Cardinality(
                        "ON CONFLICT DO UPDATE command cannot affect row a second time".into(),
                    ));
                }
            }
            let conflicts: BooleanArray = keys.iter().map(|k| Some(existing.contains(k))).collect();
            let fresh: BooleanArray = keys.iter().map(|k| Some(!existing.contains(k))).collect();
            let conflicting = filter_record_batch(&proposed, &conflicts)?;
            let fresh = filter_record_batch(&proposed, &fresh)?;
            let (updated, replaced) =
                updated_rows(ctx, insert, dml, key, conflicting, update).await?;
            remove_keys(ctx, dml, &replaced, key).await?;
            let written = concat(&proposed.schema(), &[fresh, updated])?;
            let written = in_input_order(written, &keys, key)?;
            append(ctx, dml, written.clone()).await?;
            Ok(written)
        }
    }
}

/// For each row of `batch`, whether its `key` has a NULL that makes it
/// distinct from every other row (it then conflicts with none).
fn null_keys(batch: &RecordBatch, key: &UniqueKey) -> Result<Vec<bool>> {
    let mut nulls = vec![false; batch.num_rows()];
    if !key.nulls_distinct {
        return Ok(nulls);
    }
    for k in &key.columns {
        let column = batch
            .column_by_name(k)
            .ok_or_else(|| BrookError::Internal(format!("key column {k} missing")))?;
        for (row, null) in nulls.iter_mut().enumerate() {
            *null |= column.is_null(row);
        }
    }
    Ok(nulls)
}

/// `written` in the order its rows were proposed (`keys`, unique here), as
/// PostgreSQL processes, and RETURNING lists, them.
fn in_input_order(written: RecordBatch, keys: &[OwnedRow], key: &[String]) -> Result<RecordBatch> {
    let position: std::collections::HashMap<&OwnedRow, usize> =
        keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let written_keys = key_rows(&written, key)?;
    let mut order: Vec<(usize, u32)> = written_keys
        .iter()
        .enumerate()
        .map(|(row, k)| {
            let at = position.get(k).copied().unwrap_or(usize::MAX);
            (at, u32::try_from(row).unwrap_or(u32::MAX))
        })
        .collect();
    order.sort_unstable();
    let indices =
        datafusion::arrow::array::UInt32Array::from_iter_values(order.into_iter().map(|(_, r)| r));
    Ok(datafusion::arrow::compute::take_record_batch(
        &written, &indices,
    )?)
}

/// The keys (PRIMARY KEY, UNIQUE) an ON CONFLICT clause arbitrates on:
/// the one its columns or constraint name; all of them for a DO NOTHING
/// that names none, as in PostgreSQL.
async fn conflict_keys(
    engine: &Engine,
    ctx: &SessionContext,
    dml: &DmlStatement,
    conflict: &ast::OnConflict,
) -> Result<Vec<UniqueKey>> {
    let schema = dml
        .table_name
        .schema()
        .map(str::to_string)
        .unwrap_or_else(|| ctx.state().config_options().catalog.default_schema.clone());
    let name = QualifiedName {
        schema,
        name: dml.table_name.table().to_string(),
    };
    let no_match = || {
        BrookError::InvalidColumnReference(
            "there is no unique or exclusion constraint matching the ON CONFLICT specification"
                .into(),
        )
    };
    let session = SessionTransaction::open_in(ctx);
    let keys = engine
        .catalog
        .table_for(session.as_deref(), &name)
        .map(|t| t.keys().to_vec())
        .unwrap_or_default();
    match &conflict.conflict_target {
        Some(ConflictTarget::Columns(columns)) => {
            let named: HashSet<String> = columns.iter().map(normalize).collect();
            let key = keys
                .into_iter()
                .find(|k| named == k.columns.iter().cloned().collect())
                .ok_or_else(no_match)?;
            Ok(vec![key])
        }
        Some(ConflictTarget::OnConstraint(constraint)) => {
            let named = constraint.to_string().trim_matches('"').to_string();
            let key = keys.into_iter().find(|k| k.name == named).ok_or_else(|| {
                BrookError::UndefinedObject(format!(
                    "constraint \"{named}\" for table \"{}\" does not exist",
                    name.name
                ))
            })?;
            Ok(vec![key])
        }
        None if matches!(conflict.action, OnConflictAction::DoUpdate(_)) => {
            Err(BrookError::Syntax(
                "ON CONFLICT DO UPDATE requires inference specification or constraint name".into(),
            ))
        }
        None => Ok(keys),
    }
}

/// Each row's key, comparable and hashable.
fn key_rows(batch: &RecordBatch, key: &[String]) -> Result<Vec<OwnedRow>> {
    let columns: Vec<ArrayRef> = key
        .iter()
        .map(|k| {
            batch
                .column_by_name(k)
                .cloned()
                .ok_or_else(|| BrookError::Internal(format!("key column {k} missing")))
        })
        .collect::<Result<_>>()?;
    let converter = RowConverter::new(
        columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&columns)?;
    Ok(rows.iter().map(|r| r.owned()).collect())
}

/// The keys of `proposed` that the table already holds.
async fn existing_keys(
    ctx: &SessionContext,
    dml: &DmlStatement,
    proposed: &RecordBatch,
    key: &[String],
) -> Result<HashSet<OwnedRow>> {
    if proposed.num_rows() == 0 {
        return Ok(HashSet::new());
    }
    let names: Vec<&str> = key.iter().map(String::as_str).collect();
    let keys = proposed.project(
        &key.iter()
            .filter_map(|k| proposed.schema().index_of(k).ok())
            .collect::<Vec<_>>(),
    )?;
    let keys = ctx.read_batch(keys)?.alias("brook_proposed")?;
    let found = ctx
        .table(dml.table_name.clone())
        .await?
        .select_columns(&names)?
        .join(keys, JoinType::LeftSemi, &names, &names, None)?
        .collect()
        .await?;
    let mut existing = HashSet::new();
    for batch in found {
        existing.extend(key_rows(&batch, key)?);
    }
    Ok(existing)
}

/// What the SET of DO UPDATE makes of each existing row that `conflicting`
/// (the proposed rows, `excluded`) collides with, in the table's columns,
/// and the keys those rows had (the SET may change the key itself).
async fn updated_rows(
    ctx: &SessionContext,
    insert: &ast::Insert,
    dml: &DmlStatement,
    key: &[String],
    conflicting: RecordBatch,
    update: &ast::DoUpdate,
) -> Result<(RecordBatch, RecordBatch)> {
    let schema = conflicting.schema();
    let key_schema = Arc::new(
        schema.project(
            &key.iter()
                .map(|k| schema.index_of(k))
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )?,
    );
    if conflicting.num_rows() == 0 {
        return Ok((conflicting, RecordBatch::new_empty(key_schema)));
    }
    let names: Vec<&str> = key.iter().map(String::as_str).collect();
    let table = alias(insert, &dml.table_name);
    let target = ctx.table(dml.table_name.clone()).await?.alias(&table)?;
    let excluded = ctx.read_batch(conflicting)?.alias("excluded")?;
    let mut joined = target.join(excluded, JoinType::Inner, &names, &names, None)?;
    if let Some(selection) = &update.selection {
        let condition = joined.parse_sql_expr(&selection.to_string())?;
        joined = joined.filter(condition)?;
    }
    let stored = |name: &str| {
        col(datafusion::common::Column::new(
            Some(TableReference::bare(table.as_str())),
            name,
        ))
    };
    let mut columns = Vec::with_capacity(schema.fields().len() + key.len());
    for field in schema.fields() {
        let assigned = update.assignments.iter().find(|a| match &a.target {
            ast::AssignmentTarget::ColumnName(c) => {
                c.0.last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| normalize(i) == *field.name())
            }
            ast::AssignmentTarget::Tuple(_) => false,
        });
        let value = match assigned {
            Some(a) => joined.parse_sql_expr(&a.value.to_string())?,
            None => stored(field.name()),
        };
        columns.push(
            value
                .cast_to(field.data_type(), joined.schema())?
                .alias(field.name()),
        );
    }
    for (i, k) in key.iter().enumerate() {
        columns.push(stored(k).alias(format!("brook_replaced_{i}")));
    }
    let rows = joined.select(columns)?.collect().await?;
    let width = schema.fields().len();
    let mut updated = Vec::with_capacity(rows.len());
    let mut replaced = Vec::with_capacity(rows.len());
    for batch in rows {
        updated.push(RecordBatch::try_new(
            schema.clone(),
            batch.columns()[..width].to_vec(),
        )?);
        replaced.push(RecordBatch::try_new(
            key_schema.clone(),
            batch.columns()[width..].to_vec(),
        )?);
    }
    Ok((concat(&schema, &updated)?, concat(&key_schema, &replaced)?))
}

/// Delete the table's rows whose key is one of `rows`' keys.
async fn remove_keys(
    ctx: &SessionContext,
    dml: &DmlStatement,
    rows: &RecordBatch,
    key: &[String],
) -> Result<()> {
    if rows.num_rows() == 0 {
        return Ok(());
    }
    let mut predicate: Option<Expr> = None;
    for row in 0..rows.num_rows() {
        let mut matches: Option<Expr> = None;
        for k in key {
            let Some(column) = rows.column_by_name(k) else {
                continue;
            };
            let value = ScalarValue::try_from_array(column, row)?;
            let equal = col(k.as_str()).eq(lit(value));
            matches = Some(match matches {
                Some(m) => and(m, equal),
                None => equal,
            });
        }
        if let Some(m) = matches {
            predicate = Some(match predicate {
                Some(p) => or(p, m),
                None => m,
            });
        }
    }
    let Some(predicate) = predicate else {
        return Ok(());
    };
    let scan = LogicalPlanBuilder::scan(dml.table_name.clone(), dml.target.clone(), None)?
        .filter(predicate)?
        .build()?;
    let delete = LogicalPlan::Dml(DmlStatement::new(
        dml.table_name.clone(),
        dml.target.clone(),
        WriteOp::Delete,
        Arc::new(scan),
    ));
    ctx.execute_logical_plan(delete).await?.collect().await?;
    Ok(())
}

/// Insert `rows` into the statement's table.
async fn append(ctx: &SessionContext, dml: &DmlStatement, rows: RecordBatch) -> Result<()> {
    if rows.num_rows() == 0 {
        return Ok(());
    }
    ctx.read_batch(rows)?
        .write_table(&dml.table_name.to_string(), DataFrameWriteOptions::new())
        .await?;
    Ok(())
}

fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    Ok(datafusion::arrow::compute::concat_batches(schema, batches)?)
}

/// The RETURNING list over `rows` (the table's columns, called `table`).
pub(crate) fn returning(rows: DataFrame, table: &str, items: &[SelectItem]) -> Result<DataFrame> {
    let rows = rows.alias(table)?;
    let mut exprs = Vec::new();
    for item in items {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                for field in rows.schema().fields() {
                    exprs.push(col(datafusion::common::Column::new(
                        Some(TableReference::bare(table)),
                        field.name(),
                    )));
                }
            }
            SelectItem::UnnamedExpr(expr) => {
                let parsed = rows.parse_sql_expr(&expr.to_string())?;
                exprs.push(parsed.alias(column_name(expr)));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let parsed = rows.parse_sql_expr(&expr.to_string())?;
                exprs.push(parsed.alias(normalize(alias)));
            }
            SelectItem::ExprWithAliases { .. } => {
                return Err(BrookError::Unsupported(
                    "several aliases for one RETURNING item".into(),
                ));
            }
        }
    }
    Ok(rows.select(exprs)?)
}

/// The name PostgreSQL gives an unnamed select-list item: a column's name,
/// a function's name, else `?column?`.
fn column_name(expr: &ast::Expr) -> String {
    match expr {
        ast::Expr::Identifier(i) => normalize(i),
        ast::Expr::CompoundIdentifier(parts) => parts.last().map(normalize).unwrap_or_default(),
        ast::Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(normalize)
            .unwrap_or_else(|| "?column?".into()),
        ast::Expr::Cast { expr, .. } | ast::Expr::Nested(expr) => column_name(expr),
        _ => "?column?".into(),
    }
}
