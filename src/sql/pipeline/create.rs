//! `CREATE [OR REPLACE] PIPELINE [IF NOT EXISTS] name AS LOAD DATA KAFKA …`:
//! the definition a pipeline keeps for its life (source, options, target
//! table, format, SET and WHERE), checked and stored before anything runs.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::error;
use crate::catalog::names::qualify;
use crate::engine::Engine;
use crate::error::Result;
use crate::pipeline::definition::{
    Assignment, DEFAULT_BATCH_INTERVAL_MS, DuplicateMode, ErrorMode, Format, JsonField, PipelineDef,
};
use crate::sql::outcome::Outcome;
use crate::sql::parser::{expect_word, parse_expr_text, parse_name, parse_word};

#[derive(Debug, Clone, PartialEq)]
pub struct CreatePipeline {
    pub def: Box<PipelineDef>,
    pub or_replace: bool,
    pub if_not_exists: bool,
    /// `INTO TABLE t` named no schema (the session's search path picks it).
    pub bare_table: bool,
}

impl CreatePipeline {
    /// The parser stands after CREATE.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
        let or_replace = parser.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
        expect_word(parser, "PIPELINE")?;
        let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        let name = parse_name(parser)?;
        parser.expect_keyword(Keyword::AS)?;
        let (def, bare_table) = parse_definition(parser, name)?;
        Ok(Self {
            def: Box::new(def),
            or_replace,
            if_not_exists,
            bare_table,
        })
    }

    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &datafusion::prelude::SessionContext,
    ) -> Result<Outcome> {
        let mut def = *self.def;
        def.owner = crate::sql::authorize::identity(engine, ctx).oid();
        engine
            .pipelines
            .create(def, self.or_replace, self.if_not_exists)
            .await?;
        Ok(Outcome::done("CREATE PIPELINE"))
    }
}

/// A JSON object of librdkafka settings; values may be strings, numbers or booleans.
fn parse_settings(
    parser: &mut Parser,
    clause: &str,
) -> Result<BTreeMap<String, String>, ParserError> {
    let at = parser.peek_token();
    let text = parser.parse_literal_string()?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        // Never echo the text: CREDENTIALS holds secrets.
        error(format!(
            "{clause} must be a JSON object ({e}) at {}",
            at.span.start
        ))
    })?;
    let serde_json::Value::Object(object) = value else {
        return Err(error(format!(
            "{clause} must be a JSON object at {}",
            at.span.start
        )));
    };
    let mut settings = BTreeMap::new();
    for (key, value) in object {
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(error(format!(
                    "{clause} setting \"{key}\" must be a string, number or boolean"
                )));
            }
        };
        settings.insert(key, value);
    }
    Ok(settings)
}

/// `'host:port,host:port/topic'` or `'topic'` (brokers from `--kafka`).
fn parse_source(text: &str) -> Result<(Option<String>, String), ParserError> {
    let (brokers, topic) = match text.rsplit_once('/') {
        Some((b, t)) => (Some(b.trim().to_string()), t.trim().to_string()),
        None => (None, text.trim().to_string()),
    };
    if topic.is_empty() {
        return Err(error(format!(
            "the Kafka source '{text}' names no topic; write 'host:port/topic'"
        )));
    }
    if brokers.as_deref() == Some("") {
        return Err(error(format!(
            "the Kafka source '{text}' names no broker before '/'"
        )));
    }
    Ok((brokers, topic))
}

/// The pipeline, and whether its table's name was bare.
fn parse_definition(parser: &mut Parser, name: String) -> Result<(PipelineDef, bool), ParserError> {
    parser.expect_keywords(&[Keyword::LOAD, Keyword::DATA])?;
    expect_word(parser, "KAFKA")?;
    let (brokers, topic) = parse_source(&parser.parse_literal_string()?)?;
    let mut def = PipelineDef {
        name,
        brokers,
        topic,
        config: BTreeMap::new(),
        credentials: BTreeMap::new(),
        batch_interval_ms: DEFAULT_BATCH_INTERVAL_MS,
        max_offsets_per_batch_partition: None,
        on_error: ErrorMode::Stop,
        duplicates: DuplicateMode::Append,
        table_schema: String::new(),
        table_name: String::new(),
        format: Format::Json { fields: None },
        set: vec![],
        filter: None,
        owner: crate::catalog::privileges::acl::BOOTSTRAP_OWNER,
    };
    // The options before INTO TABLE, in any order.
    loop {
        if parse_word(parser, "CONFIG") {
            def.config = parse_settings(parser, "CONFIG")?;
        } else if parser.parse_keyword(Keyword::CREDENTIALS) {
            def.credentials = parse_settings(parser, "CREDENTIALS")?;
        } else if parse_word(parser, "BATCH_INTERVAL") {
            def.batch_interval_ms = parser.parse_literal_uint()?;
        } else if parse_word(parser, "MAX_OFFSETS_PER_BATCH_PARTITION") {
            let n = parser.parse_literal_uint()?;
            if n == 0 {
                return Err(error("MAX_OFFSETS_PER_BATCH_PARTITION must be at least 1"));
            }
            def.max_offsets_per_batch_partition = Some(n);
        } else if parser.parse_keyword(Keyword::SKIP) {
            if parse_word(parser, "PARSER") {
                def.on_error = ErrorMode::SkipParserErrors;
            } else if parser.parse_keyword(Keyword::ALL) {
                def.on_error = ErrorMode::SkipAllErrors;
            } else {
                let found = parser.peek_token();
                return parser.expected("PARSER or ALL", found);
            }
            expect_word(parser, "ERRORS")?;
        } else {
            break;
        }
    }
    if parser.parse_keyword(Keyword::REPLACE) {
        def.duplicates = DuplicateMode::Replace;
    } else if parser.parse_keyword(Keyword::IGNORE) {
        def.duplicates = DuplicateMode::Ignore;
    }
    parser.expect_keywords(&[Keyword::INTO, Keyword::TABLE])?;
    let table = parser.parse_object_name(false)?;
    let bare = table.0.len() == 1;
    let table = qualify(&table).map_err(|e| error(e.to_string()))?;
    def.table_schema = table.schema;
    def.table_name = table.name;
    def.format = parse_format(parser)?;
    if parser.parse_keyword(Keyword::SET) {
        def.set = parser.parse_comma_separated(|p| {
            let column = parse_name(p)?;
            p.expect_token(&Token::Eq)?;
            Ok(Assignment {
                column,
                expr: parse_expr_text(p)?,
            })
        })?;
    }
    if parser.parse_keyword(Keyword::WHERE) {
        def.filter = Some(parse_expr_text(parser)?);
    }
    Ok((def, bare))
}

fn parse_format(parser: &mut Parser) -> Result<Format, ParserError> {
    if parser.parse_keyword(Keyword::FORMAT) {
        if parser.parse_keyword(Keyword::JSON) {
            let fields = if parser.consume_token(&Token::LParen) {
                let fields = parser.parse_comma_separated(parse_json_field)?;
                parser.expect_token(&Token::RParen)?;
                Some(fields)
            } else {
                None
            };
            return Ok(Format::Json { fields });
        }
        if !parser.parse_keyword(Keyword::CSV) {
            let found = parser.peek_token();
            return parser.expected("JSON or CSV", found);
        }
    }
    // CSV, the default format of SingleStore's LOAD DATA.
    let mut delimiter = b',';
    let mut quote = b'"';
    if parser.parse_keyword(Keyword::FIELDS) {
        if parser.parse_keyword(Keyword::TERMINATED) {
            parser.expect_keyword(Keyword::BY)?;
            delimiter = single_byte(parser, "FIELDS TERMINATED BY")?;
        }
        if parse_word(parser, "ENCLOSED") {
            parser.expect_keyword(Keyword::BY)?;
            quote = single_byte(parser, "ENCLOSED BY")?;
        }
    }
    let mut ignore_lines = 0;
    if parser.parse_keyword(Keyword::IGNORE) {
        ignore_lines = parser.parse_literal_uint()?;
        if !parser.parse_keyword(Keyword::LINES) {
            expect_word(parser, "LINE")?;
        }
    }
    let fields = if parser.consume_token(&Token::LParen) {
        let fields = parser.parse_comma_separated(parse_name)?;
        parser.expect_token(&Token::RParen)?;
        Some(fields)
    } else {
        None
    };
    Ok(Format::Csv {
        delimiter,
        quote,
        ignore_lines,
        fields,
    })
}

fn single_byte(parser: &mut Parser, clause: &str) -> Result<u8, ParserError> {
    let at = parser.peek_token();
    let text = parser.parse_literal_string()?;
    let text = match text.as_str() {
        "\\t" => "\t",
        other => other,
    };
    match text.as_bytes() {
        [b] => Ok(*b),
        _ => Err(error(format!(
            "{clause} takes one character, not '{text}' at {}",
            at.span.start
        ))),
    }
}

/// `target <- path::to::field [DEFAULT value]`.
fn parse_json_field(parser: &mut Parser) -> Result<JsonField, ParserError> {
    let target = parse_name(parser)?;
    let arrow = parser.next_token();
    let is_arrow = match &arrow.token {
        Token::Lt => parser.consume_token(&Token::Minus),
        Token::CustomBinaryOperator(op) => op == "<-",
        _ => false,
    };
    if !is_arrow {
        return parser.expected("<- and a JSON path", arrow);
    }
    let mut path = Vec::new();
    if !parser.consume_token(&Token::Mod) {
        loop {
            let part = parser.next_token();
            match &part.token {
                Token::Word(w) => path.push(w.value.clone()),
                Token::Number(n, _) => path.push(n.clone()),
                Token::SingleQuotedString(s) => path.push(s.clone()),
                _ => return parser.expected("a JSON field name", part),
            }
            if !parser.consume_token(&Token::DoubleColon) {
                break;
            }
        }
    }
    let default = if parser.parse_keyword(Keyword::DEFAULT) {
        Some(parse_expr_text(parser)?)
    } else {
        None
    };
    Ok(JsonField {
        target,
        path,
        default,
    })
}
