//! `DROP MODEL [IF EXISTS] name`: every version, and its refresher stopped.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::engine::Engine;
use crate::error::Result;
use crate::sql::outcome::Outcome;
use crate::sql::parser::{expect_word, parse_name};

#[derive(Debug, Clone, PartialEq)]
pub struct DropModel {
    pub name: String,
    pub if_exists: bool,
}

impl DropModel {
    /// The parser stands after DROP.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
        expect_word(parser, "MODEL")?;
        let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        Ok(Self {
            if_exists,
            name: parse_name(parser)?,
        })
    }

    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        engine.models.set_refresher(&self.name, None);
        engine
            .models
            .registry
            .drop_model(&self.name, self.if_exists)?;
        Ok(Outcome::done("DROP MODEL"))
    }
}
