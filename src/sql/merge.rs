//! `MERGE INTO target USING source ON … WHEN [NOT] MATCHED …` as
//! PostgreSQL 15 defines it (dbt's `merge` incremental strategy sends it).
//!
//! DataFusion 55 plans MERGE but no table provider can run it. Brook
//! computes what the table holds after the statement from the table as the
//! transaction sees it, then replaces the table's rows with that in one
//! transaction (the session's, or one of its own): a MERGE costs a rewrite
//! of the table, as an UPDATE of every row would. It
//!
//! - reads the target once and numbers its rows (`__brook_row`), then joins
//!   them with the source on the ON condition; each pair takes the first
//!   WHEN MATCHED clause whose condition holds (UPDATE, DELETE, or none);
//! - a target row two acting pairs reach is PostgreSQL's 21000 ("MERGE
//!   command cannot affect row a second time");
//! - keeps the rows no clause acted on, the updated rows, and the source
//!   rows no target row matches, each through the first WHEN NOT MATCHED
//!   clause whose condition holds (INSERT; an omitted column takes its
//!   DEFAULT).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::common::JoinType;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, MergeAction, MergeClauseKind, MergeInsertKind, TableFactor,
};

use super::outcome::Outcome;
use crate::catalog::names::{normalize, qualify};
use crate::catalog::pg_format::quote_ident;
use crate::catalog::{ColumnDef, QualifiedName};
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::rewrite::Change;
use crate::storage::transaction::SessionTransaction;

/// A `MERGE` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge(pub Box<ast::Merge>);

const ROW: &str = "__brook_row";

/// What a matched pair does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    Update,
    Delete,
}

/// (column, value as SQL text) pairs of a SET or an INSERT.
type Values = Vec<(String, String)>;

/// The clauses, as SQL text over the target's and the source's names.
struct Clauses {
    /// WHEN MATCHED: condition, action, SET column = value.
    matched: Vec<(String, Act, Values)>,
    /// WHEN NOT MATCHED: condition, INSERT column = value.
    inserts: Vec<(String, Values)>,
}

impl Merge {
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let merge = &self.0;
        if merge.output.is_some() {
            return Err(BrookError::Unsupported("MERGE … OUTPUT".into()));
        }
        let TableFactor::Table {
            name: target,
            alias: target_alias,
            ..
        } = &merge.table
        else {
            return Err(BrookError::Unsupported(format!(
                "MERGE INTO {} (a table only)",
                merge.table
            )));
        };
        let name = qualify(target)?;
        let Some((columns, _)) = engine.catalog.declaration_for(session, &name).await else {
            return Err(BrookError::UndefinedTable(name.name));
        };
        let alias = target_alias
            .as_ref()
            .map(|a| normalize(&a.name))
            .unwrap_or_else(|| name.name.clone());
        let clauses = clauses(merge, &name, &columns)?;
        let (rows, changed) = merged_rows(ctx, merge, &name, &alias, &columns, &clauses).await?;
        super::alter_table::in_transaction(engine, ctx, session, |slot| async move {
            let table = engine
                .catalog
                .table_for(Some(&slot), &name)
                .ok_or_else(|| BrookError::UndefinedTable(name.name.clone()))?;
            table.rewrite_in(Some(&slot), None, Change::Delete).await?;
            table.append_in(Some(&slot), rows).await?;
            Ok(())
        })
        .await?;
        Ok(Outcome::Done {
            tag: "MERGE",
            rows: Some(changed),
        })
    }
}

fn column_name(name: &ast::ObjectName) -> Option<String> {
    name.0.last().and_then(|p| p.as_ident()).map(normalize)
}

fn clauses(merge: &ast::Merge, table: &QualifiedName, columns: &[ColumnDef]) -> Result<Clauses> {
    let known = |column: String| -> Result<String> {
        if columns.iter().any(|c| c.name == column) {
            Ok(column)
        } else {
            Err(BrookError::UndefinedColumn {
                table: table.name.clone(),
                column,
            })
        }
    };
    let mut out = Clauses {
        matched: vec![],
        inserts: vec![],
    };
    for clause in &merge.clauses {
        let when = clause
            .predicate
            .as_ref()
            .map_or_else(|| "TRUE".to_string(), |p| format!("({p})"));
        match (&clause.clause_kind, &clause.action) {
            (MergeClauseKind::Matched, MergeAction::Update(update)) => {
                if update.update_predicate.is_some() || update.delete_predicate.is_some() {
                    return Err(BrookError::Unsupported("UPDATE … WHERE in MERGE".into()));
                }
                let mut set = Vec::new();
                for assignment in &update.assignments {
                    let column = match &assignment.target {
                        ast::AssignmentTarget::ColumnName(n) => column_name(n),
                        ast::AssignmentTarget::Tuple(_) => None,
                    }
                    .ok_or_else(|| BrookError::Unsupported(format!("MERGE … SET {assignment}")))?;
                    set.push((known(column)?, assignment.value.to_string()));
                }
                out.matched.push((when, Act::Update, set));
            }
            (MergeClauseKind::Matched, MergeAction::Delete { .. }) => {
                out.matched.push((when, Act::Delete, vec![]));
            }
            (
                MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget,
                MergeAction::Insert(insert),
            ) => {
                let MergeInsertKind::Values(values) = &insert.kind else {
                    return Err(BrookError::Unsupported("MERGE … INSERT ROW".into()));
                };
                let [row] = values.rows.as_slice() else {
                    return Err(BrookError::Syntax(
                        "MERGE … INSERT takes one row of VALUES".into(),
                    ));
                };
                let named: Vec<String> = if insert.columns.is_empty() {
                    columns.iter().map(|c| c.name.clone()).collect()
                } else {
                    insert
                        .columns
                        .iter()
                        .map(|c| column_name(c).unwrap_or_default())
                        .collect()
                };
                let row = &row.content;
                if named.len() != row.len() {
                    return Err(BrookError::Syntax(
                        "INSERT has more expressions than target columns".into(),
                    ));
                }
                let mut given = Vec::new();
                for (column, value) in named.into_iter().zip(row) {
                    given.push((known(column)?, value.to_string()));
                }
                out.inserts.push((when, given));
            }
            (kind, action) => {
                return Err(BrookError::Unsupported(format!(
                    "MERGE … WHEN {kind} THEN {action}"
                )));
            }
        }
    }
    Ok(out)
}

/// The position of the first of `conditions` that holds, -1 for none, as
/// SQL: which clause acts on a row.
fn first_holding<'a>(conditions: impl Iterator<Item = &'a String>) -> String {
    let mut chosen = String::from("CASE");
    for (i, when) in conditions.enumerate() {
        chosen.push_str(&format!(" WHEN {when} THEN {i}"));
    }
    chosen.push_str(" ELSE -1 END");
    chosen
}

/// `SELECT * FROM <source>` under the source's name, as a DataFrame.
async fn source_frame(ctx: &SessionContext, source: &TableFactor) -> Result<DataFrame> {
    let (query, alias) = match source {
        TableFactor::Table { name, alias, .. } => (
            format!("SELECT * FROM {name}"),
            alias
                .as_ref()
                .map(|a| normalize(&a.name))
                .or_else(|| column_name(name)),
        ),
        TableFactor::Derived {
            subquery, alias, ..
        } => (
            format!("SELECT * FROM ({subquery}) AS __brook_source"),
            alias.as_ref().map(|a| normalize(&a.name)),
        ),
        other => {
            return Err(BrookError::Unsupported(format!(
                "MERGE … USING {other} (a table or a subquery)"
            )));
        }
    };
    let alias = alias.ok_or_else(|| BrookError::Syntax("MERGE … USING needs an alias".into()))?;
    Ok(ctx.sql(&query).await?.alias(&alias)?)
}

/// The rows the target holds after the statement, and how many rows it
/// inserted, updated or deleted (the tag's count).
async fn merged_rows(
    ctx: &SessionContext,
    merge: &ast::Merge,
    table: &QualifiedName,
    alias: &str,
    columns: &[ColumnDef],
    clauses: &Clauses,
) -> Result<(Vec<RecordBatch>, usize)> {
    // The target, read once, each row numbered.
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let read = format!(
        "SELECT {} FROM {}.{}",
        names.join(", "),
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    let target_rows = ctx.sql(&read).await?.collect().await?;
    let mut numbered = Vec::with_capacity(target_rows.len());
    let mut next = 0_i64;
    for batch in &target_rows {
        let ids: Int64Array = (next..next + batch.num_rows() as i64).collect();
        next += batch.num_rows() as i64;
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(ROW, DataType::Int64, false));
        let mut arrays = batch.columns().to_vec();
        arrays.push(Arc::new(ids));
        numbered.push(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?);
    }
    let target = if numbered.is_empty() {
        ctx.sql(&format!(
            "SELECT *, CAST(0 AS BIGINT) AS {ROW} FROM ({read}) AS e WHERE false"
        ))
        .await?
    } else {
        ctx.read_batches(numbered)?
    }
    .alias(alias)?;
    let source = source_frame(ctx, &merge.source).await?;
    let on = merge.on.to_string();
    let both = DataFrame::new(
        ctx.state(),
        LogicalPlanBuilder::from(target.logical_plan().clone())
            .cross_join(source.logical_plan().clone())?
            .build()?,
    );
    let on_expr = both.parse_sql_expr(&on)?;

    // Matched pairs: the row, the clause that acts (-1: none), the new values.
    let mut acting: HashMap<i64, Act> = HashMap::new();
    let mut updated = Vec::new();
    if !clauses.matched.is_empty() {
        let pairs = both.clone().filter(on_expr.clone())?;
        let chosen = first_holding(clauses.matched.iter().map(|(when, _, _)| when));
        let mut select: Vec<Expr> = vec![
            col(format!("{}.{ROW}", quote_ident(alias))),
            pairs.parse_sql_expr(&chosen)?.alias("__brook_clause"),
        ];
        for c in columns {
            let own = format!("{}.{}", quote_ident(alias), quote_ident(&c.name));
            let mut value = String::from("CASE");
            for (when, _, set) in &clauses.matched {
                let v = set
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .map_or(own.clone(), |(_, v)| v.clone());
                value.push_str(&format!(" WHEN {when} THEN {v}"));
            }
            value.push_str(&format!(" ELSE {own} END"));
            select.push(pairs.parse_sql_expr(&value)?.alias(&c.name));
        }
        for batch in pairs.select(select)?.collect().await? {
            let rows = batch.column(0).as_primitive::<Int64Type>();
            let clause = batch.column(1).as_primitive::<Int64Type>();
            let mut keep = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                let Some((_, act, _)) = usize::try_from(clause.value(i))
                    .ok()
                    .and_then(|k| clauses.matched.get(k))
                else {
                    keep.push(false);
                    continue;
                };
                if acting.insert(rows.value(i), *act).is_some() {
                    return Err(BrookError::Cardinality(
                        "MERGE command cannot affect row a second time".into(),
                    ));
                }
                keep.push(*act == Act::Update);
            }
            let kept = filter_record_batch(&batch, &BooleanArray::from(keep))?;
            updated.push(kept.project(&(2..kept.num_columns()).collect::<Vec<_>>())?);
        }
    }

    // The target's rows no clause acted on, as they were.
    let mut rows = Vec::new();
    let mut first = 0_i64;
    for batch in target_rows {
        let keep: BooleanArray = (first..first + batch.num_rows() as i64)
            .map(|r| Some(!acting.contains_key(&r)))
            .collect();
        first += batch.num_rows() as i64;
        rows.push(filter_record_batch(&batch, &keep)?);
    }
    rows.extend(updated);
    let mut changed = acting.len();

    // Source rows no target row matches, through the first NOT MATCHED clause.
    if !clauses.inserts.is_empty() {
        let unmatched = source.join_on(target, JoinType::LeftAnti, [on_expr])?;
        let chosen = first_holding(clauses.inserts.iter().map(|(when, _)| when));
        let mut select = vec![unmatched.parse_sql_expr(&chosen)?.alias("__brook_clause")];
        for c in columns {
            let mut value = String::from("CASE");
            for (when, given) in &clauses.inserts {
                let v = given
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .map(|(_, v)| v.clone())
                    .or_else(|| c.default.clone())
                    .unwrap_or_else(|| "NULL".into());
                value.push_str(&format!(" WHEN {when} THEN {v}"));
            }
            value.push_str(" END");
            select.push(unmatched.parse_sql_expr(&value)?.alias(&c.name));
        }
        for batch in unmatched.select(select)?.collect().await? {
            let clause = batch.column(0).as_primitive::<Int64Type>();
            let keep: BooleanArray = (0..batch.num_rows())
                .map(|i| Some(!clause.is_null(i) && clause.value(i) >= 0))
                .collect();
            let kept = filter_record_batch(&batch, &keep)?;
            changed += kept.num_rows();
            rows.push(kept.project(&(1..kept.num_columns()).collect::<Vec<_>>())?);
        }
    }
    Ok((rows, changed))
}
