//! `START PIPELINE name [FOREGROUND [LIMIT n BATCHES]]`: in the background,
//! or in the session until the topic's end (or n batches) is reached.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::engine::Engine;
use crate::error::Result;
use crate::sql::outcome::Outcome;
use crate::sql::parser::{expect_word, parse_name, parse_word};

#[derive(Debug, Clone, PartialEq)]
pub struct StartPipeline {
    pub name: String,
    /// `FOREGROUND`: run in the session; `Some(n)` stops after n batches.
    pub foreground: Option<Option<u64>>,
}

impl StartPipeline {
    /// The parser stands after START.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
        expect_word(parser, "PIPELINE")?;
        let name = parse_name(parser)?;
        let foreground = if parse_word(parser, "FOREGROUND") {
            if parser.parse_keyword(Keyword::LIMIT) {
                let n = parser.parse_literal_uint()?;
                expect_word(parser, "BATCHES")?;
                Some(Some(n))
            } else {
                Some(None)
            }
        } else {
            None
        };
        Ok(Self { name, foreground })
    }

    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        let pipelines = &engine.pipelines;
        match self.foreground {
            None => {
                pipelines.start(&self.name).await?;
                Ok(Outcome::done("START PIPELINE"))
            }
            Some(limit) => {
                let rows = pipelines.run_foreground(&self.name, limit).await?;
                Ok(Outcome::Done {
                    tag: "START PIPELINE",
                    rows: Some(rows as usize),
                })
            }
        }
    }
}
