//! Brook's statements that no SQL parser knows (`CREATE PIPELINE`, `START
//! PIPELINE`, …), parsed by wrapping DataFusion's `DFParser` the way
//! DataFusion's custom-parser example does: peek at the leading words, parse
//! Brook's grammar with the same tokenizer and parser primitives, and leave
//! every other statement to DataFusion untouched. Errors come from the
//! sqlparser primitives and so name the offending token and its position.

use datafusion::sql::parser::{DFParser, DFParserBuilder};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

use super::model::{self, ModelStatement};
use super::pipeline::{self, PipelineStatement};
use crate::catalog::names::normalize;

/// A statement only Brook understands.
#[derive(Debug, Clone, PartialEq)]
pub enum Extension {
    Pipeline(PipelineStatement),
    Model(ModelStatement),
}

/// The words that open a Brook statement (after optional `CREATE [OR REPLACE]`).
const OBJECT_WORDS: &[&str] = &["PIPELINE", "MODEL"];

fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>, ParserError> {
    let dialect = PostgreSqlDialect {};
    Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| ParserError::TokenizerError(e.to_string()))
}

fn is_whitespace(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

fn word_is(t: &Token, expected: &str) -> bool {
    matches!(t, Token::Word(Word { value, quote_style: None, .. }) if value.eq_ignore_ascii_case(expected))
}

/// The first four tokens that are not whitespace.
fn leading_words(tokens: &[TokenWithSpan]) -> Vec<&Token> {
    tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !is_whitespace(t))
        .take(4)
        .collect()
}

/// Does this statement's text begin like one of Brook's own statements?
fn opens_extension(tokens: &[TokenWithSpan]) -> bool {
    let words = leading_words(tokens);
    let object_at = |i: usize| {
        words
            .get(i)
            .is_some_and(|t| OBJECT_WORDS.iter().any(|w| word_is(t, w)))
    };
    match words.first() {
        Some(t) if word_is(t, "CREATE") => {
            if words.get(1).is_some_and(|t| word_is(t, "OR")) {
                object_at(3)
            } else {
                object_at(1)
            }
        }
        Some(t)
            if ["START", "STOP", "ALTER", "DROP", "TEST", "REFRESH"]
                .iter()
                .any(|w| word_is(t, w)) =>
        {
            object_at(1)
        }
        Some(t) if word_is(t, "SHOW") => words
            .get(1)
            .is_some_and(|t| word_is(t, "PIPELINES") || word_is(t, "MODELS")),
        _ => false,
    }
}

/// Whether the statement's object word (where [`opens_extension`] found
/// it) is MODEL rather than PIPELINE.
fn is_model_statement(tokens: &[TokenWithSpan]) -> bool {
    let words = leading_words(tokens);
    let at = if words.first().is_some_and(|t| word_is(t, "CREATE"))
        && words.get(1).is_some_and(|t| word_is(t, "OR"))
    {
        3
    } else {
        1
    };
    words
        .get(at)
        .is_some_and(|t| word_is(t, "MODEL") || word_is(t, "MODELS"))
}

/// `@name` (a SingleStore-style variable) becomes the quoted identifier
/// `"@name"`, which DataFusion resolves as a column of the decoded batch.
fn variables_as_identifiers(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut iter = tokens.into_iter().peekable();
    while let Some(t) = iter.next() {
        if t.token == Token::AtSign
            && let Some(TokenWithSpan {
                token: Token::Word(w),
                span,
            }) = iter.peek()
            && w.quote_style.is_none()
        {
            let word = Word {
                value: format!("@{}", w.value.to_lowercase()),
                quote_style: Some('"'),
                keyword: datafusion::sql::sqlparser::keywords::Keyword::NoKeyword,
            };
            let span = t.span.union(span);
            iter.next();
            out.push(TokenWithSpan::new(Token::Word(word), span));
            continue;
        }
        out.push(t);
    }
    out
}

/// Parse `sql` (one statement) if it is one of Brook's; `Ok(None)` for any
/// other statement, which DataFusion then parses itself.
pub fn parse_extension(sql: &str) -> Result<Option<Extension>, ParserError> {
    let tokens = tokenize(sql)?;
    if !opens_extension(&tokens) {
        return Ok(None);
    }
    let is_model = is_model_statement(&tokens);
    let tokens = variables_as_identifiers(tokens);
    let dialect = PostgreSqlDialect {};
    let mut df: DFParser = DFParserBuilder::new(tokens)
        .with_dialect(&dialect)
        .build()
        .map_err(|e| ParserError::ParserError(e.strip_backtrace()))?;
    let parser = &mut df.parser;
    let statement = if is_model {
        Extension::Model(model::parse(parser)?)
    } else {
        Extension::Pipeline(pipeline::parse(parser)?)
    };
    // One statement only: an optional semicolon, then the end.
    let _ = parser.consume_token(&Token::SemiColon);
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return parser.expected("end of statement", next);
    }
    Ok(Some(statement))
}

/// Split a simple-query string at its top-level semicolons, for strings that
/// mix Brook's statements with ordinary SQL. Quotes, comments and dollar
/// quoting are respected because the split runs on tokens. Empty statements
/// are dropped.
pub fn split_statements(sql: &str) -> Result<Vec<String>, ParserError> {
    let tokens = tokenize(sql)?;
    let mut out = Vec::new();
    let mut current = String::new();
    let mut has_content = false;
    for t in tokens {
        match &t.token {
            Token::SemiColon => {
                if has_content {
                    out.push(std::mem::take(&mut current));
                }
                current.clear();
                has_content = false;
            }
            Token::EOF => {}
            token => {
                if !is_whitespace(token) {
                    has_content = true;
                }
                current.push_str(&token.to_string());
            }
        }
    }
    if has_content {
        out.push(current);
    }
    Ok(out)
}

/// Does any statement of `sql` need Brook's parser? Cheap enough for every query.
pub fn mentions_extension(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    OBJECT_WORDS.iter().any(|w| upper.contains(w))
}

// ---- helpers for the statement grammars -------------------------------------

/// Consume the (non-reserved) word `expected` if it is next.
pub(crate) fn parse_word(parser: &mut Parser, expected: &str) -> bool {
    if word_is(&parser.peek_token_ref().token, expected) {
        parser.next_token();
        true
    } else {
        false
    }
}

/// Consume the word `expected` or fail naming what was found instead.
pub(crate) fn expect_word(parser: &mut Parser, expected: &str) -> Result<(), ParserError> {
    if parse_word(parser, expected) {
        Ok(())
    } else {
        let found = parser.peek_token();
        parser.expected(expected, found)
    }
}

/// Consume the words `expected` in sequence, or none of them.
pub(crate) fn parse_words(parser: &mut Parser, expected: &[&str]) -> bool {
    let start = parser.index();
    for w in expected {
        if !parse_word(parser, w) {
            while parser.index() > start {
                parser.prev_token();
            }
            return false;
        }
    }
    true
}

/// An object name folded as Postgres folds identifiers.
pub(crate) fn parse_name(parser: &mut Parser) -> Result<String, ParserError> {
    Ok(normalize(&parser.parse_identifier()?))
}

/// The text of the next expression, as DataFusion will later parse it again.
pub(crate) fn parse_expr_text(parser: &mut Parser) -> Result<String, ParserError> {
    Ok(parser.parse_expr()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_brook_statements_only() {
        for sql in [
            "CREATE PIPELINE p AS LOAD DATA KAFKA 'h:1/t' INTO TABLE t FORMAT JSON",
            "create or replace pipeline p as load data kafka 't' into table t format json",
            "START PIPELINE p",
            "stop pipeline p",
            "SHOW PIPELINES",
            "DROP PIPELINE IF EXISTS p",
            "CREATE OR REPLACE MODEL m OPTIONS (model_type = 'linear_reg') AS SELECT 1",
            "REFRESH MODEL m",
            "SHOW MODELS",
            "DROP MODEL IF EXISTS m",
        ] {
            assert!(opens_extension(&tokenize(sql).unwrap()), "{sql}");
        }
        for sql in [
            "CREATE TABLE pipeline (a int)",
            "SELECT 'CREATE PIPELINE'",
            "DROP TABLE pipelines",
            "SHOW TABLES",
        ] {
            assert!(!opens_extension(&tokenize(sql).unwrap()), "{sql}");
            assert_eq!(parse_extension(sql).unwrap(), None, "{sql}");
        }
    }

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let parts = split_statements("SELECT ';' ; -- a; comment\nSTART PIPELINE p;; SELECT $$;$$")
            .unwrap();
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert_eq!(parts[0].trim(), "SELECT ';'");
        assert!(parts[1].contains("START PIPELINE p"));
        assert_eq!(parts[2].trim(), "SELECT $$;$$");
    }

    #[test]
    fn variables_become_quoted_identifiers() {
        let tokens = variables_as_identifiers(tokenize("SET a = @x + 1").unwrap());
        assert!(tokens.iter().any(|t| matches!(
            &t.token,
            Token::Word(w) if w.value == "@x" && w.quote_style == Some('"')
        )));
    }

    mod randomized {
        use super::super::*;
        use proptest::prelude::*;

        /// Statements made of Brook's and SQL's words in random order, so
        /// that the extension parser is reached far more often than by
        /// arbitrary text.
        fn statement() -> impl Strategy<Value = String> {
            let word = prop::sample::select(vec![
                "CREATE",
                "OR",
                "REPLACE",
                "PIPELINE",
                "MODEL",
                "p",
                "AS",
                "LOAD",
                "DATA",
                "KAFKA",
                "'h:1/t'",
                "CONFIG",
                "CREDENTIALS",
                "'{}'",
                "'{\"a\": 1}'",
                "BATCH_INTERVAL",
                "10",
                "-1",
                "99999999999999999999",
                "SKIP",
                "ALL",
                "PARSER",
                "ERRORS",
                "INTO",
                "TABLE",
                "t",
                "FORMAT",
                "JSON",
                "CSV",
                "(",
                ")",
                ",",
                "<-",
                "::",
                "DEFAULT",
                "SET",
                "=",
                "WHERE",
                "START",
                "STOP",
                "FOREGROUND",
                "LIMIT",
                "BATCHES",
                "ALTER",
                "OFFSETS",
                "EARLIEST",
                "RETRY",
                "DROP",
                "SHOW",
                "PIPELINES",
                "MODELS",
                "TEST",
                "REFRESH",
                "OPTIONS",
                "SELECT",
                "FROM",
                ";",
                "'",
                "\"",
                "--",
                "/*",
                "$$",
                "E'\\",
                "@v",
            ]);
            prop::collection::vec(word, 0..24).prop_map(|w| w.join(" "))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(5000)))]

            #[test]
            fn random_statements_parse_or_fail_without_panicking(sql in statement()) {
                let _ = mentions_extension(&sql);
                let _ = split_statements(&sql);
                let _ = parse_extension(&sql);
            }

            #[test]
            fn arbitrary_text_parses_or_fails_without_panicking(sql in "\\PC{0,200}") {
                let _ = mentions_extension(&sql);
                let _ = split_statements(&sql);
                let _ = parse_extension(&sql);
            }
        }
    }
}
