//! `SHOW PIPELINES`: a short listing of `information_schema.pipelines`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::error::Result;
use crate::sql::outcome::Outcome;
use crate::sql::parser::expect_word;

const COLUMNS: [&str; 4] = ["pipeline_name", "state", "source", "table_name"];

#[derive(Debug, Clone, PartialEq)]
pub struct ShowPipelines;

impl ShowPipelines {
    /// The parser stands after SHOW.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
        expect_word(parser, "PIPELINES")?;
        Ok(Self)
    }

    /// Its columns, known before it runs (Describe).
    pub fn columns() -> SchemaRef {
        Arc::new(Schema::new(
            COLUMNS
                .iter()
                .map(|n| Field::new(*n, DataType::Utf8, false))
                .collect::<Vec<_>>(),
        ))
    }

    /// The pipelines the session's role may see (its own), read in the
    /// session so that the system table knows who asks.
    pub async fn execute(self, ctx: &datafusion::prelude::SessionContext) -> Result<Outcome> {
        let sql = format!(
            "SELECT {} FROM information_schema.pipelines ORDER BY pipeline_name",
            COLUMNS.join(", ")
        );
        Ok(Outcome::Rows(ctx.sql(&sql).await?))
    }
}
