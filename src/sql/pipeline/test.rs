//! `TEST PIPELINE name [LIMIT n]`: the rows the next batch would load,
//! decoded and transformed but written nowhere and no offset moved.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::catalog::QualifiedName;
use crate::engine::Engine;
use crate::error::Result;
use crate::sql::outcome::Outcome;
use crate::sql::parser::{expect_word, parse_name};

/// The rows TEST PIPELINE returns by default.
const DEFAULT_LIMIT: u64 = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct TestPipeline {
    pub name: String,
    pub limit: Option<u64>,
}

impl TestPipeline {
    /// The parser stands after TEST.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
        expect_word(parser, "PIPELINE")?;
        let name = parse_name(parser)?;
        let limit = if parser.parse_keyword(Keyword::LIMIT) {
            Some(parser.parse_literal_uint()?)
        } else {
            None
        };
        Ok(Self { name, limit })
    }

    /// The target table's columns (Describe); `None` for an unknown pipeline.
    pub fn columns(&self, engine: &Engine) -> Option<SchemaRef> {
        let listing = engine.pipelines.listing();
        let listing = listing.read().ok()?;
        let (def, _) = listing.get(&self.name)?;
        let table = engine.catalog.table(&QualifiedName {
            schema: def.table_schema.clone(),
            name: def.table_name.clone(),
        })?;
        Some(datafusion::catalog::TableProvider::schema(&table))
    }

    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT) as usize;
        let batch = engine.pipelines.test(&self.name, limit).await?;
        Ok(Outcome::Rows(engine.ctx.read_batch(batch)?))
    }
}
