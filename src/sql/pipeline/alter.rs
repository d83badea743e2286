//! `ALTER PIPELINE name SET OFFSETS EARLIEST | LATEST | '{"0": 1234}'` and
//! `ALTER PIPELINE name RETRY ERRORS [WHERE expr]`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::error;
use crate::engine::Engine;
use crate::error::Result;
use crate::pipeline::definition::StartOffsets;
use crate::sql::Statement;
use crate::sql::outcome::Outcome;
use crate::sql::parser::{expect_word, parse_expr_text, parse_name, parse_word, parse_words};

/// The parser stands after ALTER.
pub fn parse(parser: &mut Parser) -> Result<Statement, ParserError> {
    expect_word(parser, "PIPELINE")?;
    let name = parse_name(parser)?;
    if parser.parse_keyword(Keyword::SET) {
        parser.expect_keyword(Keyword::OFFSETS)?;
        let offsets = parse_offsets(parser)?;
        return Ok(Statement::SetPipelineOffsets(SetPipelineOffsets {
            name,
            offsets,
        }));
    }
    if parse_words(parser, &["RETRY", "ERRORS"]) {
        let filter = if parser.parse_keyword(Keyword::WHERE) {
            Some(parse_expr_text(parser)?)
        } else {
            None
        };
        return Ok(Statement::RetryPipelineErrors(RetryPipelineErrors {
            name,
            filter,
        }));
    }
    let found = parser.peek_token();
    parser.expected("SET OFFSETS or RETRY ERRORS", found)
}

/// Where a pipeline's next batch starts reading.
#[derive(Debug, Clone, PartialEq)]
pub struct SetPipelineOffsets {
    pub name: String,
    pub offsets: StartOffsets,
}

impl SetPipelineOffsets {
    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        engine
            .pipelines
            .set_offsets(&self.name, self.offsets)
            .await?;
        Ok(Outcome::done("ALTER PIPELINE"))
    }
}

/// Load the messages a pipeline set aside in `pipelines_errors` again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPipelineErrors {
    pub name: String,
    pub filter: Option<String>,
}

impl RetryPipelineErrors {
    /// The one row of counts it answers, known before it runs (Describe).
    pub fn columns() -> SchemaRef {
        Arc::new(Schema::new(
            ["retried", "loaded", "filtered", "failed"]
                .iter()
                .map(|n| Field::new(*n, DataType::Int64, false))
                .collect::<Vec<_>>(),
        ))
    }

    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        let report = engine
            .pipelines
            .retry_errors(&self.name, self.filter.as_deref())
            .await?;
        let batch = RecordBatch::try_new(
            Self::columns(),
            [
                report.retried,
                report.loaded,
                report.filtered,
                report.failed,
            ]
            .into_iter()
            .map(|n| Arc::new(Int64Array::from(vec![n as i64])) as ArrayRef)
            .collect(),
        )?;
        Ok(Outcome::Rows(engine.ctx.read_batch(batch)?))
    }
}

fn parse_offsets(parser: &mut Parser) -> Result<StartOffsets, ParserError> {
    if parse_word(parser, "EARLIEST") {
        return Ok(StartOffsets::Earliest);
    }
    if parse_word(parser, "LATEST") {
        return Ok(StartOffsets::Latest);
    }
    let at = parser.peek_token();
    let text = parser.parse_literal_string().or_else(|_| {
        parser.expected("EARLIEST, LATEST or '{\"partition\": offset}'", at.clone())
    })?;
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
        error(format!(
            "offsets must be a JSON object of partition to offset, like '{{\"0\": 1234}}' ({e}) at {}",
            at.span.start
        ))
    })?;
    let mut offsets = BTreeMap::new();
    for (partition, offset) in map {
        let p: i32 = partition
            .parse()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| error(format!("\"{partition}\" is not a partition number")))?;
        let o = offset.as_i64().filter(|o| *o >= 0).ok_or_else(|| {
            error(format!(
                "offset {offset} of partition {p} is not a non-negative integer"
            ))
        })?;
        offsets.insert(p, o);
    }
    Ok(StartOffsets::Explicit(offsets))
}
