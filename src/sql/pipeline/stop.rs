//! `STOP PIPELINE name`: the running batch commits, then the pipeline rests.

use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::engine::Engine;
use crate::error::Result;
use crate::sql::outcome::Outcome;
use crate::sql::parser::{expect_word, parse_name};

#[derive(Debug, Clone, PartialEq)]
pub struct StopPipeline {
    pub name: String,
}

impl StopPipeline {
    /// The parser stands after STOP.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
        expect_word(parser, "PIPELINE")?;
        Ok(Self {
            name: parse_name(parser)?,
        })
    }

    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        engine.pipelines.stop(&self.name).await?;
        Ok(Outcome::done("STOP PIPELINE"))
    }
}
