//! `ALTER SEQUENCE [IF EXISTS] name [AS type] [INCREMENT [BY] n]
//! [MINVALUE n | NO MINVALUE] [MAXVALUE n | NO MAXVALUE] [START [WITH] n]
//! [RESTART [[WITH] n]] [CACHE n] [[NO] CYCLE]` (catalog::sequences).
//!
//! sqlparser has no ALTER SEQUENCE, so Brook parses it with the parser's
//! primitives, as it parses its pipelines.

use datafusion::sql::sqlparser::ast::ObjectName;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::create_sequence::max_of;
use super::outcome::Outcome;
use super::parser::{expect_word, parse_word, parse_words};
use crate::catalog::names::qualify;
use crate::catalog::sequences::SequenceChanges;
use crate::engine::Engine;
use crate::error::{BrookError, Result};

/// An `ALTER SEQUENCE` as Brook parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterSequence {
    pub name: ObjectName,
    pub if_exists: bool,
    pub changes: SequenceChanges,
    /// `AS type` as written, checked when it runs.
    pub data_type: Option<String>,
    /// A form Brook does not have (`OWNED BY`, `RENAME TO`, …), refused
    /// when it runs.
    pub unsupported: Option<String>,
}

/// A signed whole number (`-5`, `10`).
fn number(parser: &mut Parser) -> std::result::Result<i64, ParserError> {
    let negative = parser.consume_token(&Token::Minus);
    if !negative {
        let _ = parser.consume_token(&Token::Plus);
    }
    let found = parser.next_token();
    let Token::Number(digits, _) = &found.token else {
        return parser.expected("a number", found);
    };
    let text = if negative {
        format!("-{digits}")
    } else {
        digits.clone()
    };
    text.parse::<i64>().map_err(|_| {
        ParserError::ParserError(format!("value \"{text}\" is out of range for type bigint"))
    })
}

fn starts_number(parser: &Parser) -> bool {
    matches!(
        parser.peek_token_ref().token,
        Token::Number(..) | Token::Minus | Token::Plus
    )
}

/// Parse from `ALTER` on.
pub fn parse(parser: &mut Parser) -> std::result::Result<AlterSequence, ParserError> {
    expect_word(parser, "ALTER")?;
    expect_word(parser, "SEQUENCE")?;
    let if_exists = parse_words(parser, &["IF", "EXISTS"]);
    let name = parser.parse_object_name(false)?;
    let mut changes = SequenceChanges::default();
    let mut data_type = None;
    let mut any = false;
    let mut unsupported = None;
    loop {
        if parse_word(parser, "AS") {
            data_type = Some(parser.parse_data_type()?.to_string());
        } else if parse_word(parser, "INCREMENT") {
            let _ = parse_word(parser, "BY");
            changes.increment = Some(number(parser)?);
        } else if parse_word(parser, "MINVALUE") {
            changes.min = Some(Some(number(parser)?));
        } else if parse_word(parser, "MAXVALUE") {
            changes.max = Some(Some(number(parser)?));
        } else if parse_words(parser, &["NO", "MINVALUE"]) {
            changes.min = Some(None);
        } else if parse_words(parser, &["NO", "MAXVALUE"]) {
            changes.max = Some(None);
        } else if parse_words(parser, &["NO", "CYCLE"]) {
            changes.cycle = Some(false);
        } else if parse_word(parser, "CYCLE") {
            changes.cycle = Some(true);
        } else if parse_word(parser, "START") {
            let _ = parse_word(parser, "WITH");
            changes.start = Some(number(parser)?);
        } else if parse_word(parser, "RESTART") {
            let with = parse_word(parser, "WITH");
            changes.restart = Some(if with || starts_number(parser) {
                Some(number(parser)?)
            } else {
                None
            });
        } else if parse_word(parser, "CACHE") {
            // Brook's file prefetch stands for every session's cache.
            number(parser)?;
        } else if let Some(word) = ["OWNED", "RENAME", "OWNER", "SET"]
            .into_iter()
            .find(|w| parse_word(parser, w))
        {
            // Refused when it runs, with the feature named (0A000).
            unsupported = Some(format!("ALTER SEQUENCE … {word}"));
            while !matches!(parser.peek_token_ref().token, Token::EOF | Token::SemiColon) {
                parser.next_token();
            }
        } else {
            break;
        }
        any = true;
    }
    if !any {
        let found = parser.peek_token();
        return parser.expected("a sequence option", found);
    }
    Ok(AlterSequence {
        name,
        if_exists,
        changes,
        data_type,
        unsupported,
    })
}

impl AlterSequence {
    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        if let Some(form) = self.unsupported {
            return Err(BrookError::Unsupported(form));
        }
        let name = qualify(&self.name)?;
        let mut changes = self.changes;
        if let Some(data_type) = &self.data_type {
            changes.type_max = Some(max_of(Some(data_type))?);
        }
        if !engine.sequences.exists(&name) {
            if self.if_exists {
                return Ok(Outcome::done("ALTER SEQUENCE"));
            }
            return Err(BrookError::UndefinedTable(name.to_string()));
        }
        engine.sequences.alter(&name, &changes)?;
        Ok(Outcome::done("ALTER SEQUENCE"))
    }
}
