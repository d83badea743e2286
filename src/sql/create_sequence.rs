//! `CREATE SEQUENCE name [AS type] [INCREMENT BY n] [MINVALUE n] [MAXVALUE n]
//! [START WITH n] [CACHE n] [NO CYCLE]` (catalog::sequences).

use datafusion::prelude::SessionContext as Ctx;
use datafusion::sql::sqlparser::ast::{self, SequenceOptions as Option_};

use super::outcome::Outcome;
use crate::catalog::QualifiedName;
use crate::catalog::names::qualify;
use crate::catalog::sequences::SequenceOptions;
use crate::engine::Engine;
use crate::error::{BrookError, Result};

/// A `CREATE SEQUENCE` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSequence {
    pub name: ast::ObjectName,
    pub if_not_exists: bool,
    pub data_type: Option<ast::DataType>,
    pub options: Vec<Option_>,
    pub temporary: bool,
    pub owned_by: Option<ast::ObjectName>,
}

fn number(expr: &ast::Expr) -> Result<i64> {
    let text = expr.to_string();
    text.parse::<i64>()
        .map_err(|_| BrookError::InvalidText(format!("invalid sequence value: {text}")))
}

/// The options of a sequence, from `CREATE SEQUENCE` or an identity column.
pub fn options(given: &[Option_]) -> Result<SequenceOptions> {
    let mut options = SequenceOptions::default();
    for option in given {
        match option {
            Option_::IncrementBy(e, _) => options.increment = Some(number(e)?),
            Option_::MinValue(e) => options.min = e.as_ref().map(number).transpose()?,
            Option_::MaxValue(e) => options.max = e.as_ref().map(number).transpose()?,
            Option_::StartWith(e, _) => options.start = Some(number(e)?),
            // A cache is per session in PostgreSQL; Brook's file prefetch
            // gives every session the same guarantees.
            Option_::Cache(_) => {}
            // sqlparser's flag says whether `NO` came before CYCLE.
            Option_::Cycle(no) => options.cycle = !no,
        }
    }
    Ok(options)
}

/// The largest value a sequence of type `name` (`integer`, `bigint`, …;
/// none: bigint) may reach.
pub fn max_of(name: Option<&str>) -> Result<i64> {
    match name.map(str::to_ascii_lowercase).as_deref() {
        Some("smallint" | "int2") => Ok(i16::MAX.into()),
        Some("int" | "integer" | "int4") => Ok(i32::MAX.into()),
        None | Some("bigint" | "int8") => Ok(i64::MAX),
        Some(other) => Err(BrookError::InvalidText(format!(
            "sequence type must be smallint, integer, or bigint, not {other}"
        ))),
    }
}

impl CreateSequence {
    /// `in_block`: inside a transaction, where only a sequence that exists
    /// already (IF NOT EXISTS) is accepted: sequences do not take part in
    /// transactions.
    pub async fn execute(self, engine: &Engine, ctx: &Ctx, in_block: bool) -> Result<Outcome> {
        if self.temporary {
            return Err(BrookError::Unsupported("temporary sequences".into()));
        }
        if self.owned_by.is_some() {
            return Err(BrookError::Unsupported(
                "OWNED BY (use a serial or identity column)".into(),
            ));
        }
        let name: QualifiedName = qualify(&self.name)?;
        if in_block {
            if self.if_not_exists && engine.sequences.exists(&name) {
                return Ok(Outcome::done("CREATE SEQUENCE"));
            }
            return Err(BrookError::InTransactionBlock("CREATE SEQUENCE".into()));
        }
        if engine.catalog.relation_exists(&name).await {
            return Err(BrookError::DuplicateTable(name.to_string()));
        }
        let options = options(&self.options)?;
        let max = max_of(self.data_type.as_ref().map(ToString::to_string).as_deref())?;
        engine.sequences.create(
            &name,
            &options,
            max,
            None,
            super::authorize::identity(engine, ctx).oid(),
            self.if_not_exists,
        )?;
        Ok(Outcome::done("CREATE SEQUENCE"))
    }
}
