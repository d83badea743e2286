//! The pipeline statements of SPEC §2 (SingleStore's grammar, Kafka only).
//!
//! ```sql
//! CREATE [OR REPLACE] PIPELINE [IF NOT EXISTS] name AS
//!   LOAD DATA KAFKA 'host:port[,host:port]/topic'
//!   [CONFIG '{json}'] [CREDENTIALS '{json}'] [BATCH_INTERVAL ms]
//!   [MAX_OFFSETS_PER_BATCH_PARTITION n] [SKIP PARSER ERRORS | SKIP ALL ERRORS]
//!   [REPLACE | IGNORE] INTO TABLE t
//!   FORMAT JSON [(col <- path::to::field [DEFAULT v], ...)]
//!        | CSV [FIELDS TERMINATED BY ',' [ENCLOSED BY '"']] [IGNORE n LINES] [(col, @var, ...)]
//!   [SET col = expr, ...] [WHERE expr]
//! START PIPELINE name [FOREGROUND [LIMIT n BATCHES]];  STOP PIPELINE name;
//! ALTER PIPELINE name SET OFFSETS EARLIEST | LATEST | '{"0": 1234}';
//! ALTER PIPELINE name RETRY ERRORS [WHERE expr];
//! DROP PIPELINE [IF EXISTS] name;  SHOW PIPELINES;  TEST PIPELINE name [LIMIT n];
//! ```

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::parser::{expect_word, parse_expr_text, parse_name, parse_word, parse_words};
use crate::catalog::names::qualify;
use crate::pipeline::definition::{
    Assignment, DEFAULT_BATCH_INTERVAL_MS, DuplicateMode, ErrorMode, Format, JsonField,
    PipelineDef, StartOffsets,
};

/// A parsed pipeline statement.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineStatement {
    Create {
        def: Box<PipelineDef>,
        or_replace: bool,
        if_not_exists: bool,
    },
    Start {
        name: String,
        /// `FOREGROUND`: run in the session; `Some(n)` stops after n batches.
        foreground: Option<Option<u64>>,
    },
    Stop {
        name: String,
    },
    SetOffsets {
        name: String,
        offsets: StartOffsets,
    },
    RetryErrors {
        name: String,
        filter: Option<String>,
    },
    Drop {
        name: String,
        if_exists: bool,
    },
    Show,
    Test {
        name: String,
        limit: Option<u64>,
    },
}

fn error(message: impl Into<String>) -> ParserError {
    ParserError::ParserError(message.into())
}

/// Parse one pipeline statement; the caller has checked that it is one.
pub fn parse(parser: &mut Parser) -> Result<PipelineStatement, ParserError> {
    if parser.parse_keyword(Keyword::CREATE) {
        let or_replace = parser.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
        expect_word(parser, "PIPELINE")?;
        let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        let name = parse_name(parser)?;
        parser.expect_keyword(Keyword::AS)?;
        let def = parse_definition(parser, name)?;
        return Ok(PipelineStatement::Create {
            def: Box::new(def),
            or_replace,
            if_not_exists,
        });
    }
    if parse_word(parser, "START") {
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
        return Ok(PipelineStatement::Start { name, foreground });
    }
    if parse_word(parser, "STOP") {
        expect_word(parser, "PIPELINE")?;
        return Ok(PipelineStatement::Stop {
            name: parse_name(parser)?,
        });
    }
    if parser.parse_keyword(Keyword::ALTER) {
        expect_word(parser, "PIPELINE")?;
        let name = parse_name(parser)?;
        if parser.parse_keyword(Keyword::SET) {
            parser.expect_keyword(Keyword::OFFSETS)?;
            let offsets = parse_offsets(parser)?;
            return Ok(PipelineStatement::SetOffsets { name, offsets });
        }
        if parse_words(parser, &["RETRY", "ERRORS"]) {
            let filter = if parser.parse_keyword(Keyword::WHERE) {
                Some(parse_expr_text(parser)?)
            } else {
                None
            };
            return Ok(PipelineStatement::RetryErrors { name, filter });
        }
        let found = parser.peek_token();
        return parser.expected("SET OFFSETS or RETRY ERRORS", found);
    }
    if parser.parse_keyword(Keyword::DROP) {
        expect_word(parser, "PIPELINE")?;
        let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        return Ok(PipelineStatement::Drop {
            name: parse_name(parser)?,
            if_exists,
        });
    }
    if parse_word(parser, "SHOW") {
        expect_word(parser, "PIPELINES")?;
        return Ok(PipelineStatement::Show);
    }
    if parse_word(parser, "TEST") {
        expect_word(parser, "PIPELINE")?;
        let name = parse_name(parser)?;
        let limit = if parser.parse_keyword(Keyword::LIMIT) {
            Some(parser.parse_literal_uint()?)
        } else {
            None
        };
        return Ok(PipelineStatement::Test { name, limit });
    }
    let found = parser.peek_token();
    parser.expected("a pipeline statement", found)
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

fn parse_definition(parser: &mut Parser, name: String) -> Result<PipelineDef, ParserError> {
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
    Ok(def)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parser::{Extension, parse_extension};

    fn pipeline(sql: &str) -> PipelineStatement {
        match parse_extension(sql) {
            Ok(Some(Extension::Pipeline(p))) => p,
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn create(sql: &str) -> PipelineDef {
        match pipeline(sql) {
            PipelineStatement::Create { def, .. } => *def,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn full_json_pipeline() {
        let def = create(
            "CREATE OR REPLACE PIPELINE Events AS LOAD DATA KAFKA 'localhost:9092,b:9093/events' \
             CONFIG '{\"fetch.min.bytes\": 1}' CREDENTIALS '{\"sasl.password\": \"s3cret\"}' \
             BATCH_INTERVAL 100 MAX_OFFSETS_PER_BATCH_PARTITION 5000 SKIP PARSER ERRORS \
             IGNORE INTO TABLE s.events \
             FORMAT JSON (id <- id, city <- address::city DEFAULT 'unknown', @raw <- payload::n, whole <- %) \
             SET n = CAST(@raw AS int) * 2, id = id + 1 WHERE id > 0;",
        );
        assert_eq!(def.name, "events");
        assert_eq!(def.brokers.as_deref(), Some("localhost:9092,b:9093"));
        assert_eq!(def.topic, "events");
        assert_eq!(
            def.config.get("fetch.min.bytes").map(String::as_str),
            Some("1")
        );
        assert_eq!(
            def.credentials.get("sasl.password").map(String::as_str),
            Some("s3cret")
        );
        assert_eq!(def.batch_interval_ms, 100);
        assert_eq!(def.max_offsets_per_batch_partition, Some(5000));
        assert_eq!(def.on_error, ErrorMode::SkipParserErrors);
        assert_eq!(def.duplicates, DuplicateMode::Ignore);
        assert_eq!(
            (def.table_schema.as_str(), def.table_name.as_str()),
            ("s", "events")
        );
        let Format::Json {
            fields: Some(fields),
        } = &def.format
        else {
            panic!("{:?}", def.format)
        };
        assert_eq!(fields[1].path, vec!["address", "city"]);
        assert_eq!(fields[1].default.as_deref(), Some("'unknown'"));
        assert_eq!(fields[2].target, "@raw");
        assert!(fields[3].path.is_empty());
        assert_eq!(def.set.len(), 2);
        assert!(def.set[0].expr.contains("\"@raw\""), "{}", def.set[0].expr);
        assert_eq!(def.filter.as_deref(), Some("id > 0"));
    }

    #[test]
    fn csv_pipeline_and_defaults() {
        let def = create(
            "CREATE PIPELINE p AS LOAD DATA KAFKA 'topic' INTO TABLE t \
             FORMAT CSV FIELDS TERMINATED BY ';' ENCLOSED BY '''' IGNORE 1 LINES (a, @skip, b)",
        );
        assert_eq!(def.brokers, None);
        assert_eq!(def.batch_interval_ms, DEFAULT_BATCH_INTERVAL_MS);
        assert_eq!(
            def.format,
            Format::Csv {
                delimiter: b';',
                quote: b'\'',
                ignore_lines: 1,
                fields: Some(vec!["a".into(), "@skip".into(), "b".into()])
            }
        );
    }

    #[test]
    fn other_statements() {
        assert_eq!(
            pipeline("START PIPELINE p FOREGROUND LIMIT 3 BATCHES"),
            PipelineStatement::Start {
                name: "p".into(),
                foreground: Some(Some(3))
            }
        );
        assert_eq!(
            pipeline("ALTER PIPELINE p SET OFFSETS '{\"0\": 10, \"2\": 7}'"),
            PipelineStatement::SetOffsets {
                name: "p".into(),
                offsets: StartOffsets::Explicit(BTreeMap::from([(0, 10), (2, 7)]))
            }
        );
        assert_eq!(pipeline("SHOW PIPELINES"), PipelineStatement::Show);
        assert_eq!(
            pipeline("TEST PIPELINE p LIMIT 5"),
            PipelineStatement::Test {
                name: "p".into(),
                limit: Some(5)
            }
        );
    }

    #[test]
    fn errors_name_the_token_and_hide_secrets() {
        let err = parse_extension(
            "CREATE PIPELINE p AS LOAD DATA KAFKA 'h:1/t' BATCH_INTERVAL soon INTO TABLE t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("soon") && err.contains("Column"), "{err}");
        let err = parse_extension(
            "CREATE PIPELINE p AS LOAD DATA KAFKA 'h:1/t' CREDENTIALS '{\"sasl.password\": hunter2}' INTO TABLE t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("CREDENTIALS must be a JSON object"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_extension("START PIPELINE").unwrap_err().to_string();
        assert!(err.contains("EOF"), "{err}");
    }
}
