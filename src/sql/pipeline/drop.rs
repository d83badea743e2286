//! `DROP PIPELINE [IF EXISTS] name`: stopped, then forgotten with its offsets.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::engine::Engine;
use crate::error::Result;
use crate::sql::outcome::Outcome;
use crate::sql::parser::{expect_word, parse_name};

#[derive(Debug, Clone, PartialEq)]
pub struct DropPipeline {
    pub name: String,
    pub if_exists: bool,
}

impl DropPipeline {
    /// The parser stands after DROP.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
        expect_word(parser, "PIPELINE")?;
        let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        Ok(Self {
            name: parse_name(parser)?,
            if_exists,
        })
    }

    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        engine
            .pipelines
            .drop_pipeline(&self.name, self.if_exists)
            .await?;
        Ok(Outcome::done("DROP PIPELINE"))
    }
}
