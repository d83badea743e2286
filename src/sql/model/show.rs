//! `SHOW MODELS`: each model's newest version, from `information_schema.models`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::error::Result;
use crate::sql::outcome::Outcome;
use crate::sql::parser::expect_word;

const SHOW_MODELS: &str = "SELECT m.model_name, m.version, m.model_type, m.label, m.rows_trained, \
     m.refresh \
     FROM information_schema.models m \
     JOIN (SELECT model_name, max(version) AS version FROM information_schema.models GROUP BY model_name) c \
       ON m.model_name = c.model_name AND m.version = c.version \
     ORDER BY m.model_name";

#[derive(Debug, Clone, PartialEq)]
pub struct ShowModels;

impl ShowModels {
    /// The parser stands after SHOW.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
        expect_word(parser, "MODELS")?;
        Ok(Self)
    }

    /// Its columns, known before it runs (Describe).
    pub fn columns() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("model_name", DataType::Utf8, false),
            Field::new("version", DataType::Int64, false),
            Field::new("model_type", DataType::Utf8, false),
            Field::new("label", DataType::Utf8, false),
            Field::new("rows_trained", DataType::Int64, false),
            Field::new("refresh", DataType::Utf8, false),
        ]))
    }

    /// The models the session's role may see, read in the session so that
    /// the system table knows who asks.
    pub async fn execute(self, ctx: &datafusion::prelude::SessionContext) -> Result<Outcome> {
        Ok(Outcome::Rows(ctx.sql(SHOW_MODELS).await?))
    }
}
