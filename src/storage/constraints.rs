//! What a table promises about its rows beyond their types and NOT NULL: the
//! uniqueness of its PRIMARY KEY and UNIQUE keys, CHECK conditions and
//! `varchar(n)`'s length, checked on every SQL write (INSERT, COPY, CREATE
//! TABLE AS, UPDATE) before anything is committed, with PostgreSQL's codes
//! (23505, 23514, 22001).
//!
//! Pipelines do not come here for keys: a keyed pipeline replaces or skips
//! duplicates by design (`REPLACE` / `IGNORE`), and they check lengths per
//! message (`pipeline::transform`) so that one long value becomes one kept
//! error instead of a failed batch.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::Result as DfResult;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast,
};
use datafusion::physical_expr::PhysicalExpr;

use crate::error::{BrookError, Result};
use crate::storage::text_types::TextType;

/// A `varchar(n)` column: its position in the schema, name and `n`.
#[derive(Debug, Clone)]
pub struct Length {
    pub index: usize,
    pub column: String,
    pub max_chars: usize,
}

/// A CHECK constraint, ready to evaluate over a batch of the table's rows.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub condition: Arc<dyn PhysicalExpr>,
}

impl Check {
    /// Compile the condition `expr` (SQL text) of check `name` over the
    /// columns of `schema`; one that does not plan, or is not boolean, is
    /// refused (at CREATE TABLE).
    pub fn compile(
        state: &datafusion::execution::SessionState,
        schema: &SchemaRef,
        name: &str,
        expr: &str,
    ) -> Result<Self> {
        let columns = datafusion::common::DFSchema::try_from(schema.as_ref().clone())?;
        let invalid = |e: datafusion::error::DataFusionError| {
            BrookError::InvalidText(format!(
                "check constraint \"{name}\": {}",
                e.strip_backtrace()
            ))
        };
        let expr = state.create_logical_expr(expr, &columns).map_err(invalid)?;
        let condition = state
            .create_physical_expr(expr, &columns)
            .map_err(invalid)?;
        if condition.data_type(schema).map_err(invalid)? != DataType::Boolean {
            return Err(BrookError::Syntax(format!(
                "argument of CHECK must be type boolean (constraint \"{name}\")"
            )));
        }
        Ok(Self {
            name: name.to_string(),
            condition,
        })
    }
}

/// A set of columns no two rows may share values in: the PRIMARY KEY or a
/// UNIQUE constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueKey {
    /// The constraint's name, which a violation reports (`t_pkey`, `t_a_key`).
    pub name: String,
    pub columns: Vec<String>,
    /// Whether two rows whose key has a NULL are distinct (SQL's default):
    /// such rows never conflict.
    pub nulls_distinct: bool,
}

impl UniqueKey {
    /// PostgreSQL's unique violation of this key by the key in row `row` of
    /// `columns` (the key's columns, in key order).
    pub fn violation(&self, columns: &[ArrayRef], row: usize) -> BrookError {
        let values: Vec<String> = columns
            .iter()
            .map(|c| {
                if c.is_null(row) {
                    return "null".to_string();
                }
                array_value_to_string(c, row).unwrap_or_default()
            })
            .collect();
        BrookError::UniqueViolation {
            constraint: self.name.clone(),
            detail: format!(
                "Key ({})=({}) already exists.",
                self.columns.join(", "),
                values.join(", ")
            ),
        }
    }
}

/// The checks a table's writes go through.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    /// The PRIMARY KEY's columns, empty without one.
    pub primary_key: Vec<String>,
    /// Every key writes must keep unique: the PRIMARY KEY first, then the
    /// UNIQUE constraints in declaration order.
    pub keys: Vec<UniqueKey>,
    pub lengths: Vec<Length>,
    /// The columns stored as text whose declared type is another
    /// (`varchar`, `uuid`, `json`, `jsonb`), by position: writes put their
    /// values in the type's form, and a query's description names the type.
    pub text_types: Vec<(usize, TextType)>,
    pub checks: Vec<Check>,
    /// The `GENERATED ALWAYS AS IDENTITY` columns: an INSERT or UPDATE may
    /// not give them a value of its own (COPY may, as in PostgreSQL).
    pub always_identity: Vec<String>,
}

impl Constraints {
    /// The constraints of table `table`'s columns, named with their
    /// PostgreSQL types, with its PRIMARY KEY and `unique` keys.
    pub fn new<'a>(
        schema: &SchemaRef,
        pg_types: impl IntoIterator<Item = (&'a str, &'a str)>,
        table: &str,
        primary_key: Vec<String>,
        unique: impl IntoIterator<Item = UniqueKey>,
    ) -> Self {
        let pg_types: Vec<(&str, &str)> = pg_types.into_iter().collect();
        let text_types = pg_types
            .iter()
            .filter_map(|(column, pg_type)| {
                Some((
                    schema.index_of(column).ok()?,
                    TextType::of_pg_name(pg_type)?,
                ))
            })
            .collect();
        let lengths = pg_types
            .into_iter()
            .filter_map(|(column, pg_type)| {
                let max_chars = max_chars(pg_type)?;
                let index = schema.index_of(column).ok()?;
                Some(Length {
                    index,
                    column: column.to_string(),
                    max_chars,
                })
            })
            .collect();
        let mut keys = Vec::new();
        if !primary_key.is_empty() {
            keys.push(UniqueKey {
                name: format!("{table}_pkey"),
                columns: primary_key.clone(),
                nulls_distinct: true,
            });
        }
        keys.extend(unique);
        Self {
            primary_key,
            keys,
            lengths,
            text_types,
            checks: vec![],
            always_identity: vec![],
        }
    }

    /// The key, if any, that `column` is part of (an UPDATE of it must
    /// keep the key unique).
    pub fn key_with(&self, column: &str) -> Option<&UniqueKey> {
        self.keys
            .iter()
            .find(|k| k.columns.iter().any(|c| c == column))
    }
}

/// Refuse `batch` (rows about to be written to `table`) if a CHECK
/// condition is FALSE for one of its rows; NULL passes, as in SQL.
pub fn check_rows(table: &str, checks: &[Check], batch: &RecordBatch) -> Result<()> {
    let failing = failing_checks(checks, batch)?;
    match failing
        .iter()
        .enumerate()
        .find_map(|(row, c)| Some((row, (*c)?)))
    {
        Some((row, constraint)) => Err(BrookError::CheckViolation {
            table: table.to_string(),
            constraint: constraint.to_string(),
            detail: format!("Failing row contains ({}).", row_text(batch, row)),
        }),
        None => Ok(()),
    }
}

/// For each row of `batch`, the name of the first CHECK it fails (FALSE;
/// NULL passes). A pipeline sets those rows aside instead of failing the
/// batch.
pub fn failing_checks<'a>(
    checks: &'a [Check],
    batch: &RecordBatch,
) -> Result<Vec<Option<&'a str>>> {
    let mut failing = vec![None; batch.num_rows()];
    for check in checks {
        let value = check
            .condition
            .evaluate(batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .map_err(|e| {
                BrookError::InvalidText(format!(
                    "check constraint \"{}\": {}",
                    check.name,
                    e.strip_backtrace()
                ))
            })?;
        let Some(verdicts) = value.as_boolean_opt() else {
            return Err(BrookError::Internal(format!(
                "check constraint \"{}\" is not boolean",
                check.name
            )));
        };
        for (row, slot) in failing.iter_mut().enumerate() {
            if slot.is_none() && verdicts.is_valid(row) && !verdicts.value(row) {
                *slot = Some(check.name.as_str());
            }
        }
    }
    Ok(failing)
}

/// A row as PostgreSQL prints it in a DETAIL: values separated by `, `,
/// NULL as `null`.
fn row_text(batch: &RecordBatch, row: usize) -> String {
    batch
        .columns()
        .iter()
        .map(|c| {
            if c.is_null(row) {
                "null".to_string()
            } else {
                array_value_to_string(c, row).unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` of `character varying(n)`.
pub fn max_chars(pg_type: &str) -> Option<usize> {
    pg_type
        .strip_prefix("character varying(")?
        .strip_suffix(')')?
        .parse()
        .ok()
}

/// PostgreSQL's error for a value longer than `varchar(n)`.
pub fn too_long(max_chars: usize) -> BrookError {
    BrookError::StringTooLong(format!(
        "value too long for type character varying({max_chars})"
    ))
}

/// Whether `value` fits `varchar(n)`, and the stored text: as in
/// PostgreSQL, characters beyond `n` that are all spaces are cut off, any
/// other excess does not fit.
pub fn fit(value: &str, max_chars: usize) -> Option<&str> {
    match value.char_indices().nth(max_chars) {
        None => Some(value),
        Some((at, _)) => value[at..].chars().all(|c| c == ' ').then(|| &value[..at]),
    }
}

/// The rows of `column` that do not fit `varchar(max_chars)`.
pub fn misfits(column: &ArrayRef, max_chars: usize) -> Vec<bool> {
    let mut bad = vec![false; column.len()];
    if let Some(strings) = column.as_string_opt::<i32>() {
        for (row, value) in strings.iter().enumerate() {
            if let Some(v) = value {
                bad[row] = fit(v, max_chars).is_none();
            }
        }
    }
    bad
}

/// `column` with values that fit `varchar(max_chars)` cut to it, or the
/// length error for the first that does not.
pub fn conform_length(column: &ArrayRef, max_chars: usize) -> Result<ArrayRef> {
    if column.data_type() != &DataType::Utf8 {
        return Ok(column.clone());
    }
    let strings = column.as_string::<i32>();
    let mut cut = false;
    for v in strings.iter().flatten() {
        match fit(v, max_chars) {
            None => return Err(too_long(max_chars)),
            Some(f) if f.len() != v.len() => cut = true,
            Some(_) => {}
        }
    }
    if !cut {
        return Ok(column.clone());
    }
    let mut out = StringBuilder::with_capacity(strings.len(), strings.value_data().len());
    for v in strings.iter() {
        match v {
            Some(v) => out.append_value(fit(v, max_chars).unwrap_or(v)),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `column` (text about to be stored in a column of type `kind`) with
/// every value in the type's canonical form, or the input error of the
/// first that is not one of its values.
pub fn conform_text(column: &ArrayRef, kind: TextType) -> Result<ArrayRef> {
    if !kind.checks_values() || column.data_type() != &DataType::Utf8 {
        return Ok(column.clone());
    }
    let strings = column.as_string::<i32>();
    let mut out = StringBuilder::with_capacity(strings.len(), strings.value_data().len());
    let mut changed = false;
    for v in strings.iter() {
        match v {
            Some(v) => {
                let canonical = kind.canonical(v)?;
                changed |= canonical != v;
                out.append_value(canonical);
            }
            None => out.append_null(),
        }
    }
    Ok(if changed {
        Arc::new(out.finish())
    } else {
        column.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_and_forgive_trailing_spaces() {
        assert_eq!(max_chars("character varying(3)"), Some(3));
        assert_eq!(max_chars("text"), None);
        assert_eq!(fit("abc", 3), Some("abc"));
        assert_eq!(fit("äöü", 3), Some("äöü"));
        assert_eq!(fit("abc   ", 3), Some("abc"));
        assert_eq!(fit("abcdef", 3), None);
        assert_eq!(fit("ab d", 3), None);
    }
}

/// `value` as an UPDATE's new value of a `varchar(max_chars)` column or
/// of one of the [`TextType`]s: cut, put in the type's form or refused as
/// an inserted value would be, while Delta's update computes the new rows.
pub fn checked_text(value: Expr, max_chars: Option<usize>, text_type: Option<TextType>) -> Expr {
    if max_chars.is_none() && !text_type.is_some_and(TextType::checks_values) {
        return value;
    }
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(TextCheck {
            max_chars,
            text_type,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        })),
        vec![cast(value, DataType::Utf8)],
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TextCheck {
    max_chars: Option<usize>,
    text_type: Option<TextType>,
    signature: Signature,
}

impl ScalarUDFImpl for TextCheck {
    fn name(&self) -> &str {
        "stored_text_check"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(value) = args.args.first() else {
            return Err(DataFusionError::Internal(
                "stored_text_check takes one argument".into(),
            ));
        };
        let mut array = value.to_array(args.number_rows)?;
        if let Some(max_chars) = self.max_chars {
            array = conform_length(&array, max_chars).map_err(crate::error::external)?;
        }
        if let Some(kind) = self.text_type {
            array = conform_text(&array, kind).map_err(crate::error::external)?;
        }
        Ok(ColumnarValue::Array(array))
    }
}
