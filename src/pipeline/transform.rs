//! Decoded columns → the table's rows: `SET` and `WHERE` evaluated by
//! DataFusion on the whole decoded batch (so any scalar SQL, any UDF — also
//! `PREDICT` — works there), defaults for unmapped columns, NOT NULL checked.
//!
//! Expressions are planned once, when the pipeline starts (which also
//! validates the definition), and turned into physical expressions once per
//! batch so that `now()` means the batch's time.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;

use super::decode::{Decoded, Decoder, ErrorKind, MessageError, Target};
use super::definition::{Format, PipelineDef};
use super::error::PipelineError;
use crate::catalog::ColumnDef;
use crate::storage::constraints;
use crate::storage::text_types::TextType;
use crate::storage::types::column_type;

/// How a table column gets its value.
#[derive(Debug, Clone)]
enum Fill {
    /// Column `i` of the row batch (decoded or SET).
    Row(usize),
    /// The column's DEFAULT, evaluated per batch.
    Default(Expr),
    Null,
}

/// What a JSON target takes when its path is missing from a message.
#[derive(Debug, Clone)]
enum Missing {
    Text(Option<String>),
    /// The table column's DEFAULT, evaluated per batch.
    TableDefault(Expr),
}

/// A pipeline's compiled mapping from messages to table rows.
#[derive(Debug, Clone)]
pub struct Transform {
    decoder: Decoder,
    missing: Vec<Missing>,
    input_schema: Arc<DFSchema>,
    /// (index in the row batch, expression over the input, already cast to the column type).
    sets: Vec<(usize, Expr)>,
    row_schema: Arc<DFSchema>,
    filter: Option<Expr>,
    fills: Vec<Fill>,
    table_schema: SchemaRef,
    /// Names of NOT NULL columns by index, for the constraint check.
    not_null: Vec<(usize, String)>,
    /// `varchar(n)` columns: position, name and `n`.
    lengths: Vec<(usize, String, usize)>,
    /// `uuid`, `json` and `jsonb` columns: a message whose value is not
    /// one of the type's is set aside with the type's input error.
    text_types: Vec<(usize, TextType)>,
    /// The table's CHECK constraints: a failing row is set aside, as a
    /// NULL in a NOT NULL column is.
    checks: Vec<constraints::Check>,
    table: String,
}

/// One batch transformed: the rows to commit, how many were filtered, and
/// the messages that failed (parse and conversion).
#[derive(Debug)]
pub struct Transformed {
    pub batch: RecordBatch,
    pub filtered: u64,
    pub errors: Vec<MessageError>,
}

fn definition(message: impl Into<String>) -> PipelineError {
    PipelineError::Definition(message.into())
}

fn plan_expr(
    ctx: &SessionContext,
    sql: &str,
    schema: &DFSchema,
    what: &str,
) -> Result<Expr, PipelineError> {
    ctx.state()
        .create_logical_expr(sql, schema)
        .map_err(|e| definition(format!("{what} `{sql}`: {}", e.strip_backtrace())))
}

impl Transform {
    /// Compile `def` against the target table (`columns` as declared,
    /// `table_schema` as stored). Fails with the reason a user can act on.
    pub fn plan(
        ctx: &SessionContext,
        def: &PipelineDef,
        columns: &[ColumnDef],
        table_schema: SchemaRef,
        checks: Vec<constraints::Check>,
    ) -> Result<Self, PipelineError> {
        let table = def.table();
        let column_index: HashMap<&str, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let resolve = |target: &str| -> Result<Target, PipelineError> {
            if PipelineDef::is_variable(target) {
                return Ok(Target {
                    name: target.to_string(),
                    data_type: DataType::Utf8,
                    sql_type: "text".to_string(),
                });
            }
            let i = column_index.get(target).ok_or_else(|| {
                definition(format!(
                    "column \"{target}\" of relation \"{table}\" does not exist"
                ))
            })?;
            let sql_type = columns[*i].pg_type.clone();
            let data_type = column_type(&sql_type)
                .map(|t| t.arrow)
                .unwrap_or_else(|_| table_schema.field(*i).data_type().clone());
            Ok(Target {
                name: target.to_string(),
                data_type,
                sql_type,
            })
        };
        let all_columns = || columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        let (names, mapping_defaults): (Vec<String>, Vec<Option<String>>) = match &def.format {
            Format::Json {
                fields: Some(fields),
            } => fields
                .iter()
                .map(|f| (f.target.clone(), f.default.clone()))
                .unzip(),
            Format::Json { fields: None } => all_columns().into_iter().map(|c| (c, None)).unzip(),
            Format::Csv { fields, .. } => {
                let names = fields.clone().unwrap_or_else(all_columns);
                let n = names.len();
                (names, vec![None; n])
            }
        };
        let mut seen = std::collections::HashSet::new();
        for name in &names {
            if !seen.insert(name.as_str()) {
                return Err(definition(format!("\"{name}\" is mapped twice")));
            }
        }
        let targets: Vec<Target> = names.iter().map(|n| resolve(n)).collect::<Result<_, _>>()?;
        let decoder = Decoder::new(def, targets.clone());
        let input_schema = Arc::new(
            DFSchema::try_from(decoder.schema().as_ref().clone())
                .map_err(|e| definition(e.strip_backtrace()))?,
        );
        let empty = DFSchema::empty();

        // What a missing JSON field takes: the mapping's DEFAULT, else the column's.
        let mut missing = Vec::with_capacity(targets.len());
        for (target, default) in targets.iter().zip(&mapping_defaults) {
            let m = match default {
                Some(sql) => {
                    let expr = plan_expr(ctx, sql, &empty, "DEFAULT")?;
                    Missing::Text(constant_text(ctx, &expr, &empty)?)
                }
                None => match column_index
                    .get(target.name.as_str())
                    .and_then(|i| columns[*i].default.as_ref())
                {
                    Some(sql) => Missing::TableDefault(plan_expr(ctx, sql, &empty, "DEFAULT")?),
                    None => Missing::Text(None),
                },
            };
            missing.push(m);
        }

        // The row batch: decoded targets, then SET columns that are not mapped.
        let mut row_fields: Vec<Field> = decoder
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut sets = Vec::with_capacity(def.set.len());
        for assignment in &def.set {
            let i = column_index
                .get(assignment.column.as_str())
                .ok_or_else(|| {
                    definition(format!(
                        "SET: column \"{}\" of relation \"{table}\" does not exist",
                        assignment.column
                    ))
                })?;
            let data_type = table_schema.field(*i).data_type().clone();
            let expr = plan_expr(ctx, &assignment.expr, &input_schema, "SET")?
                .cast_to(&data_type, input_schema.as_ref())
                .map_err(|e| {
                    definition(format!(
                        "SET {}: {}",
                        assignment.column,
                        e.strip_backtrace()
                    ))
                })?;
            let at = match row_fields
                .iter()
                .position(|f| f.name() == &assignment.column)
            {
                Some(at) => {
                    row_fields[at] = Field::new(&assignment.column, data_type, true);
                    at
                }
                None => {
                    row_fields.push(Field::new(&assignment.column, data_type, true));
                    row_fields.len() - 1
                }
            };
            sets.push((at, expr));
        }
        let row_schema = Arc::new(
            DFSchema::try_from(Schema::new(row_fields.clone()))
                .map_err(|e| definition(e.strip_backtrace()))?,
        );
        let filter = match &def.filter {
            Some(sql) => {
                let expr = plan_expr(ctx, sql, &row_schema, "WHERE")?;
                let ty = expr
                    .get_type(row_schema.as_ref())
                    .map_err(|e| definition(format!("WHERE: {}", e.strip_backtrace())))?;
                if ty != DataType::Boolean && ty != DataType::Null {
                    return Err(definition(format!(
                        "argument of WHERE must be type boolean, not type {ty}"
                    )));
                }
                Some(expr)
            }
            None => None,
        };

        let mut fills = Vec::with_capacity(columns.len());
        let mut not_null = Vec::new();
        let mut lengths = Vec::new();
        let mut text_types = Vec::new();
        for (i, column) in columns.iter().enumerate() {
            let fill = match row_fields.iter().position(|f| f.name() == &column.name) {
                Some(at) => Fill::Row(at),
                None => match &column.default {
                    Some(sql) => Fill::Default(plan_expr(ctx, sql, &empty, "DEFAULT")?),
                    None => Fill::Null,
                },
            };
            if !column.nullable {
                if matches!(fill, Fill::Null) {
                    return Err(definition(format!(
                        "column \"{}\" of relation \"{table}\" is NOT NULL and has no DEFAULT, \
                         but the pipeline gives it no value",
                        column.name
                    )));
                }
                not_null.push((i, column.name.clone()));
            }
            if let Some(n) = constraints::max_chars(&column.pg_type) {
                lengths.push((i, column.name.clone(), n));
            }
            if let Some(kind) = TextType::of_pg_name(&column.pg_type).filter(|k| k.checks_values())
            {
                text_types.push((i, kind));
            }
            fills.push(fill);
        }
        Ok(Self {
            decoder,
            missing,
            input_schema,
            sets,
            row_schema,
            filter,
            fills,
            table_schema,
            not_null,
            lengths,
            text_types,
            checks,
            table,
        })
    }

    /// Decode and transform one batch of messages.
    pub fn apply(
        &self,
        ctx: &SessionContext,
        messages: &super::source::MessageBatch,
    ) -> Result<Transformed, PipelineError> {
        let empty = DFSchema::empty();
        let mut missing = Vec::with_capacity(self.missing.len());
        for m in &self.missing {
            missing.push(match m {
                Missing::Text(t) => t.clone(),
                Missing::TableDefault(expr) => constant_text(ctx, expr, &empty)?,
            });
        }
        let Decoded {
            batch,
            rows,
            mut errors,
        } = self.decoder.decode(messages, &missing);
        let state = ctx.state();
        let physical = |expr: &Expr, schema: &DFSchema| {
            state
                .create_physical_expr(expr.clone(), schema)
                .map_err(|e| definition(e.strip_backtrace()))
        };
        let sets: Vec<(usize, Arc<dyn PhysicalExpr>)> = self
            .sets
            .iter()
            .map(|(at, e)| Ok((*at, physical(e, &self.input_schema)?)))
            .collect::<Result<_, PipelineError>>()?;
        let filter = self
            .filter
            .as_ref()
            .map(|e| physical(e, &self.row_schema))
            .transpose()?;

        // SET and WHERE over the whole batch; if that fails, row by row, so one
        // bad row (say, a division by zero) is that row's error only.
        let (rows_batch, kept_rows, filtered) = match self.evaluate(&batch, &sets, filter.as_ref())
        {
            Ok((b, mask, filtered)) => {
                let kept = select(&rows, &mask);
                (b, kept, filtered)
            }
            Err(_) => {
                let mut parts = Vec::new();
                let mut kept = Vec::new();
                let mut filtered = 0;
                for (i, entry) in rows.iter().enumerate() {
                    match self.evaluate(&batch.slice(i, 1), &sets, filter.as_ref()) {
                        Ok((b, mask, f)) => {
                            filtered += f;
                            if mask.value(0) {
                                kept.push(*entry);
                            }
                            parts.push(b);
                        }
                        Err(e) => errors.push(MessageError {
                            entry: *entry,
                            kind: ErrorKind::Convert,
                            reason: e,
                        }),
                    }
                }
                let schema = Arc::new(self.row_schema.as_arrow().clone());
                let b = concat_batches(&schema, &parts).map_err(|e| definition(e.to_string()))?;
                (b, kept, filtered)
            }
        };

        let table_batch = self.fill(ctx, &rows_batch)?;
        let (table_batch, violations) = self.check_constraints(table_batch, &kept_rows)?;
        errors.extend(violations);
        errors.sort_by_key(|e| e.entry);
        Ok(Transformed {
            batch: table_batch,
            filtered,
            errors,
        })
    }

    /// SET then WHERE on `input`: the row batch after filtering, the mask that
    /// was applied, and how many rows it removed.
    fn evaluate(
        &self,
        input: &RecordBatch,
        sets: &[(usize, Arc<dyn PhysicalExpr>)],
        filter: Option<&Arc<dyn PhysicalExpr>>,
    ) -> Result<(RecordBatch, BooleanArray, u64), String> {
        let n = input.num_rows();
        let mut columns: Vec<ArrayRef> = input.columns().to_vec();
        let row_arrow = Arc::new(self.row_schema.as_arrow().clone());
        for (at, expr) in sets {
            let value = expr
                .evaluate(input)
                .and_then(|v| v.into_array(n))
                .map_err(|e| e.strip_backtrace())?;
            if *at < columns.len() {
                columns[*at] = value;
            } else {
                columns.push(value);
            }
        }
        let rows = RecordBatch::try_new_with_options(
            row_arrow,
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| e.to_string())?;
        let Some(filter) = filter else {
            return Ok((rows, BooleanArray::from(vec![true; n]), 0));
        };
        let mask = filter
            .evaluate(&rows)
            .and_then(|v| v.into_array(n))
            .map_err(|e| e.strip_backtrace())?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| "WHERE did not give a boolean".to_string())?;
        // NULL counts as false, as in SQL.
        let mask: BooleanArray = mask.iter().map(|v| Some(v == Some(true))).collect();
        let kept = mask.true_count();
        let filtered = filter_record_batch(&rows, &mask).map_err(|e| e.to_string())?;
        Ok((filtered, mask, (n - kept) as u64))
    }

    /// Table columns in order: from the row batch, their DEFAULT, or NULL.
    fn fill(&self, ctx: &SessionContext, rows: &RecordBatch) -> Result<RecordBatch, PipelineError> {
        let n = rows.num_rows();
        let empty = DFSchema::empty();
        let no_columns = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| definition(e.to_string()))?;
        let mut columns = Vec::with_capacity(self.fills.len());
        for (fill, field) in self.fills.iter().zip(self.table_schema.fields()) {
            let column = match fill {
                Fill::Row(at) => rows.column(*at).clone(),
                Fill::Default(expr) => ctx
                    .state()
                    .create_physical_expr(expr.clone(), &empty)
                    .and_then(|p| p.evaluate(&no_columns))
                    .and_then(|v| v.into_array(n))
                    .map_err(|e| {
                        definition(format!(
                            "DEFAULT of {}: {}",
                            field.name(),
                            e.strip_backtrace()
                        ))
                    })?,
                Fill::Null => datafusion::arrow::array::new_null_array(field.data_type(), n),
            };
            let column = if column.data_type() == field.data_type() {
                column
            } else {
                datafusion::arrow::compute::cast(&column, field.data_type())
                    .map_err(|e| definition(format!("column {}: {e}", field.name())))?
            };
            columns.push(column);
        }
        // Nullability is checked separately (per row), so build with a relaxed schema.
        let relaxed = Arc::new(Schema::new(
            self.table_schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        RecordBatch::try_new_with_options(
            relaxed,
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| definition(e.to_string()))
    }

    /// Remove rows with NULL in a NOT NULL column; each becomes an error.
    fn check_constraints(
        &self,
        batch: RecordBatch,
        rows: &[usize],
    ) -> Result<(RecordBatch, Vec<MessageError>), PipelineError> {
        let mut bad = vec![None::<String>; batch.num_rows()];
        for (i, name) in &self.not_null {
            let column = batch.column(*i);
            if column.null_count() == 0 {
                continue;
            }
            for (row, b) in bad.iter_mut().enumerate() {
                if b.is_none() && column.is_null(row) {
                    *b = Some(format!(
                        "null value in column \"{name}\" of relation \"{}\" violates not-null constraint",
                        self.table
                    ));
                }
            }
        }
        for (i, _, n) in &self.lengths {
            for (row, misfit) in constraints::misfits(batch.column(*i), *n)
                .into_iter()
                .enumerate()
            {
                if misfit && bad[row].is_none() {
                    bad[row] = Some(constraints::too_long(*n).to_string());
                }
            }
        }
        for (i, kind) in &self.text_types {
            let Some(strings) = batch.column(*i).as_string_opt::<i32>() else {
                continue;
            };
            for (row, value) in strings.iter().enumerate() {
                if let (None, Some(value)) = (&bad[row], value)
                    && let Err(e) = kind.canonical(value)
                {
                    bad[row] = Some(e.to_string());
                }
            }
        }
        let failing = constraints::failing_checks(&self.checks, &batch)
            .map_err(|e| PipelineError::Storage(e.to_string()))?;
        for (b, check) in bad.iter_mut().zip(failing) {
            if let (None, Some(check)) = (&b, check) {
                *b = Some(format!(
                    "new row for relation \"{}\" violates check constraint \"{check}\"",
                    self.table
                ));
            }
        }
        if bad.iter().all(Option::is_none) {
            return Ok((batch, vec![]));
        }
        let errors = bad
            .iter()
            .zip(rows)
            .filter_map(|(reason, entry)| {
                Some(MessageError {
                    entry: *entry,
                    kind: ErrorKind::Convert,
                    reason: reason.clone()?,
                })
            })
            .collect();
        let keep = BooleanArray::from(bad.iter().map(Option::is_none).collect::<Vec<_>>());
        let batch = filter_record_batch(&batch, &keep).unwrap_or_else(|_| batch.slice(0, 0));
        Ok((batch, errors))
    }

    /// The table's columns, for TEST PIPELINE's result.
    pub fn table_schema(&self) -> SchemaRef {
        self.table_schema.clone()
    }
}

fn select(rows: &[usize], mask: &BooleanArray) -> Vec<usize> {
    rows.iter()
        .enumerate()
        .filter_map(|(i, r)| mask.value(i).then_some(*r))
        .collect()
}

/// Evaluate a constant expression to its text (what a missing field takes).
fn constant_text(
    ctx: &SessionContext,
    expr: &Expr,
    schema: &DFSchema,
) -> Result<Option<String>, PipelineError> {
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .map_err(|e| definition(e.to_string()))?;
    let value = ctx
        .state()
        .create_physical_expr(expr.clone(), schema)
        .and_then(|p| p.evaluate(&one_row))
        .and_then(|v| v.into_array(1))
        .and_then(|a| ScalarValue::try_from_array(&a, 0))
        .map_err(|e| definition(format!("DEFAULT {expr}: {}", e.strip_backtrace())))?;
    Ok((!value.is_null()).then(|| match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s,
        other => other.to_string(),
    }))
}
