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

use crate::catalog::names::normalize;

/// The kind of object a statement of Brook's own grammar is about: which
/// module's parser takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrookObject {
    Pipeline,
    Model,
    /// `ALTER SEQUENCE`, which sqlparser does not parse.
    Sequence,
    /// `ALTER VIEW … RENAME TO`, which sqlparser does not parse.
    View,
    /// `COMMENT ON … IS $tag$…$tag$`: sqlparser takes only a quoted
    /// string there, and dbt's `persist_docs` dollar-quotes.
    Comment,
    /// PostgreSQL's `CREATE USER` (`CREATE ROLE … LOGIN`): sqlparser reads
    /// Snowflake's.
    User,
    /// `GRANT` and `REVOKE`: sqlparser reads neither role membership
    /// (`GRANT reader TO alice`) nor `REVOKE GRANT OPTION FOR`.
    Privileges,
    /// `ALTER DEFAULT PRIVILEGES`, which sqlparser does not parse.
    DefaultPrivileges,
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
            if words.get(1).is_some_and(|t| word_is(t, "USER")) {
                return true;
            }
            if words.get(1).is_some_and(|t| word_is(t, "OR")) {
                object_at(3)
            } else {
                object_at(1)
            }
        }
        Some(t)
            if word_is(t, "ALTER")
                && words.get(1).is_some_and(|t| {
                    word_is(t, "SEQUENCE") || word_is(t, "VIEW") || word_is(t, "DEFAULT")
                }) =>
        {
            true
        }
        Some(t)
            if ["START", "STOP", "ALTER", "DROP", "TEST", "REFRESH"]
                .iter()
                .any(|w| word_is(t, w)) =>
        {
            object_at(1)
        }
        Some(t) if word_is(t, "GRANT") || word_is(t, "REVOKE") => true,
        Some(t) if word_is(t, "COMMENT") => tokens
            .iter()
            .any(|t| matches!(t.token, Token::DollarQuotedString(_))),
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

/// Parse `sql` (one statement) with `parse` if it is one of Brook's own
/// grammar; `Ok(None)` for any other statement, which DataFusion then
/// parses itself. `parse` starts at the statement's first word; the one
/// statement must then end (an optional semicolon, then nothing).
pub fn parse_brook_grammar<T>(
    sql: &str,
    parse: impl FnOnce(&mut Parser, BrookObject) -> Result<T, ParserError>,
) -> Result<Option<T>, ParserError> {
    let tokens = tokenize(sql)?;
    if !opens_extension(&tokens) {
        return Ok(None);
    }
    let words = leading_words(&tokens);
    let object = if words.first().is_some_and(|t| word_is(t, "COMMENT")) {
        BrookObject::Comment
    } else if words
        .first()
        .is_some_and(|t| word_is(t, "GRANT") || word_is(t, "REVOKE"))
    {
        BrookObject::Privileges
    } else if words.first().is_some_and(|t| word_is(t, "CREATE"))
        && words.get(1).is_some_and(|t| word_is(t, "USER"))
    {
        BrookObject::User
    } else if words.first().is_some_and(|t| word_is(t, "ALTER"))
        && words.get(1).is_some_and(|t| word_is(t, "DEFAULT"))
    {
        BrookObject::DefaultPrivileges
    } else if words.get(1).is_some_and(|t| word_is(t, "SEQUENCE")) {
        BrookObject::Sequence
    } else if words.first().is_some_and(|t| word_is(t, "ALTER"))
        && words.get(1).is_some_and(|t| word_is(t, "VIEW"))
    {
        BrookObject::View
    } else if is_model_statement(&tokens) {
        BrookObject::Model
    } else {
        BrookObject::Pipeline
    };
    let mut tokens = variables_as_identifiers(tokens);
    if object == BrookObject::User
        && let Some(user) = tokens
            .iter_mut()
            .find(|t| matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case("USER")))
    {
        user.token = Token::make_keyword("ROLE");
    }
    if object == BrookObject::Comment {
        for t in &mut tokens {
            if let Token::DollarQuotedString(quoted) = &t.token {
                t.token = Token::SingleQuotedString(quoted.value.clone());
            }
        }
    }
    let dialect = PostgreSqlDialect {};
    let mut df: DFParser = DFParserBuilder::new(tokens)
        .with_dialect(&dialect)
        .build()
        .map_err(|e| ParserError::ParserError(e.strip_backtrace()))?;
    let parser = &mut df.parser;
    let statement = parse(parser, object)?;
    // One statement only: an optional semicolon, then the end.
    let _ = parser.consume_token(&Token::SemiColon);
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return parser.expected("end of statement", next);
    }
    Ok(Some(statement))
}

/// One statement of a message: its text, and whether it opens one of
/// Brook's own statements. The second is read from the tokens the split has
/// already made, so that a statement is recognised once, in one place, and
/// no other pass scans the text for Brook's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    /// Starts like `CREATE PIPELINE`, `START PIPELINE`, `CREATE MODEL`, …:
    /// Brook's parser takes it, not DataFusion's.
    pub brook: bool,
}

/// Split a simple-query string at its top-level semicolons, for strings that
/// hold several statements. Quotes, comments and dollar quoting are respected
/// because the semicolons are found by the tokenizer; each statement is then
/// the original text between them, byte for byte (text rebuilt from tokens
/// loses the doubling of quotes inside string literals, which turned an
/// escaped value into SQL). Empty statements are dropped. Too complex a
/// statement (see [`MAX_OPERATORS`]) is refused here, before any recursive
/// parser or planner sees it.
pub fn split_statements(sql: &str) -> Result<Vec<Piece>, ParserError> {
    let tokens = tokenize(sql)?;
    let offsets = Offsets::of(sql);
    let mut out = Vec::new();
    let mut start = 0;
    let mut first_token = 0;
    let mut has_content = false;
    let mut complexity = Complexity::default();
    for (i, t) in tokens.iter().enumerate() {
        match &t.token {
            Token::SemiColon => {
                let at = offsets.byte(t.span.start);
                if has_content {
                    out.push(Piece {
                        text: sql[start..at].trim().to_string(),
                        brook: opens_extension(&tokens[first_token..i]),
                    });
                }
                start = at + 1;
                first_token = i + 1;
                has_content = false;
                complexity = Complexity::default();
            }
            Token::EOF => {}
            token if !is_whitespace(token) => {
                has_content = true;
                complexity.count(token)?;
            }
            _ => {}
        }
    }
    if has_content {
        out.push(Piece {
            text: sql[start..].trim().to_string(),
            brook: opens_extension(&tokens[first_token..]),
        });
    }
    Ok(out)
}

/// The longest chain of operators one expression may hold. Each operator of
/// a chain is a level of the expression tree (`1+1+…+1` with 10,000 terms is
/// 10,000 levels deep), which DataFusion's planner, its optimizer rules and
/// sqlparser's printing walk recursively: past a few thousand levels that
/// overflows a thread's stack and aborts the whole server. PostgreSQL refuses
/// what exceeds its stack the same way (54001); what a person or a BI tool
/// writes stays far below. Lists (`IN (…)`, VALUES rows, select lists, CASE
/// arms) are flat in the tree and do not count as a chain.
pub const MAX_OPERATORS: usize = 1_000;
/// The deepest nesting of parentheses one statement may hold.
pub const MAX_NESTING: usize = 200;
/// The most set operations (UNION, INTERSECT, EXCEPT) one statement may
/// chain: they nest like operators.
const MAX_SET_OPERATIONS: usize = 1_000;

/// An estimate of one statement's expression depth from its tokens: per level
/// of parentheses, the length of the operator chain in the current list item
/// and the longest one in earlier items; a closed parenthesis adds its depth
/// to the chain it stands in.
struct Complexity {
    levels: Vec<(usize, usize)>,
    set_operations: usize,
}

impl Default for Complexity {
    fn default() -> Self {
        Self {
            levels: vec![(0, 0)],
            set_operations: 0,
        }
    }
}

fn is_operator(token: &Token) -> bool {
    match token {
        Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::Mod
        | Token::Eq
        | Token::Neq
        | Token::Lt
        | Token::Gt
        | Token::LtEq
        | Token::GtEq
        | Token::StringConcat
        | Token::Caret
        | Token::Ampersand
        | Token::Pipe
        | Token::Sharp
        | Token::DoubleColon => true,
        Token::Word(w) => {
            w.quote_style.is_none()
                && ["AND", "OR", "NOT", "IS", "BETWEEN", "LIKE", "ILIKE", "IN"]
                    .iter()
                    .any(|k| w.value.eq_ignore_ascii_case(k))
        }
        _ => false,
    }
}

fn separates_items(token: &Token) -> bool {
    match token {
        Token::Comma => true,
        Token::Word(w) => {
            w.quote_style.is_none()
                && ["WHEN", "THEN", "ELSE", "SELECT", "FROM", "WHERE", "ON"]
                    .iter()
                    .any(|k| w.value.eq_ignore_ascii_case(k))
        }
        _ => false,
    }
}

fn is_set_operation(token: &Token) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none()
        && ["UNION", "INTERSECT", "EXCEPT"].iter().any(|k| w.value.eq_ignore_ascii_case(k)))
}

impl Complexity {
    fn add(&mut self, n: usize) -> Result<(), ParserError> {
        if let Some(top) = self.levels.last_mut() {
            top.0 += n;
            if top.0 > MAX_OPERATORS {
                return Err(ParserError::RecursionLimitExceeded);
            }
        }
        Ok(())
    }

    fn count(&mut self, token: &Token) -> Result<(), ParserError> {
        match token {
            Token::LParen | Token::LBracket => {
                self.levels.push((0, 0));
                if self.levels.len() > MAX_NESTING {
                    return Err(ParserError::RecursionLimitExceeded);
                }
            }
            Token::RParen | Token::RBracket if self.levels.len() > 1 => {
                let (current, longest) = self.levels.pop().unwrap_or_default();
                self.add(current.max(longest))?;
            }
            t if is_operator(t) => self.add(1)?,
            t if separates_items(t) => {
                if let Some(top) = self.levels.last_mut() {
                    top.1 = top.1.max(top.0);
                    top.0 = 0;
                }
            }
            t if is_set_operation(t) => {
                self.set_operations += 1;
                if self.set_operations > MAX_SET_OPERATIONS {
                    return Err(ParserError::RecursionLimitExceeded);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Refuse a statement too complex to plan safely (see [`MAX_OPERATORS`]),
/// before any recursive parser or planner sees it.
pub fn check_complexity(sql: &str) -> Result<(), ParserError> {
    split_statements(sql).map(drop)
}

/// Whether `sql` is exactly one statement and one of Brook's own (the
/// extended protocol's Parse, which carries one statement).
pub fn is_one_brook_statement(sql: &str) -> Result<bool, ParserError> {
    let pieces = split_statements(sql)?;
    Ok(matches!(pieces.as_slice(), [piece] if piece.brook))
}

/// Byte offsets of the tokenizer's (line, column) locations, both 1-based
/// and counted in characters.
struct Offsets<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn of(sql: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Self { sql, line_starts }
    }

    fn byte(&self, at: datafusion::sql::sqlparser::tokenizer::Location) -> usize {
        let line = (at.line.max(1) - 1) as usize;
        let Some(&line_start) = self.line_starts.get(line) else {
            return self.sql.len();
        };
        let column = (at.column.max(1) - 1) as usize;
        self.sql[line_start..]
            .char_indices()
            .nth(column)
            .map_or(self.sql.len(), |(i, _)| line_start + i)
    }
}

/// PostgreSQL's longest identifier, in bytes (NAMEDATALEN − 1).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Whether `sql` may hold an identifier longer than PostgreSQL keeps: a run
/// of more than [`MAX_IDENTIFIER_BYTES`] bytes without a blank or a
/// delimiter. Cheap enough for every statement.
fn may_hold_long_identifier(sql: &str) -> bool {
    sql.split(|c: char| c.is_whitespace() || ",.;()[]=<>+-*/'".contains(c))
        .any(|run| run.len() > MAX_IDENTIFIER_BYTES)
}

/// `sql` with every identifier longer than 63 bytes cut to 63 (at a
/// character boundary), as PostgreSQL cuts them, and the NOTICE it sends for
/// each. Only the identifiers' own spans of the original text change.
pub fn truncate_identifiers(sql: &str) -> (std::borrow::Cow<'_, str>, Vec<String>) {
    if !may_hold_long_identifier(sql) {
        return (std::borrow::Cow::Borrowed(sql), vec![]);
    }
    let Ok(tokens) = tokenize(sql) else {
        return (std::borrow::Cow::Borrowed(sql), vec![]);
    };
    let offsets = Offsets::of(sql);
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut notices = Vec::new();
    for t in &tokens {
        let Token::Word(word) = &t.token else {
            continue;
        };
        if word.value.len() <= MAX_IDENTIFIER_BYTES {
            continue;
        }
        let mut end = MAX_IDENTIFIER_BYTES;
        while !word.value.is_char_boundary(end) {
            end -= 1;
        }
        let cut = &word.value[..end];
        let (start, stop) = (offsets.byte(t.span.start), offsets.byte(t.span.end));
        if start < copied || stop > sql.len() {
            continue;
        }
        out.push_str(&sql[copied..start]);
        match word.quote_style {
            Some(q) => {
                out.push(q);
                out.push_str(&cut.replace(q, &format!("{q}{q}")));
                out.push(q);
            }
            None => out.push_str(cut),
        }
        copied = stop;
        notices.push(format!(
            "identifier \"{}\" will be truncated to \"{cut}\"",
            word.value
        ));
    }
    if notices.is_empty() {
        return (std::borrow::Cow::Borrowed(sql), vec![]);
    }
    out.push_str(&sql[copied..]);
    (std::borrow::Cow::Owned(out), notices)
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
    // Looked at before any is consumed: stepping back over whitespace
    // could land before where the words began.
    let all = expected
        .iter()
        .enumerate()
        .all(|(i, w)| word_is(&parser.peek_nth_token_ref(i).token, w));
    if all {
        for _ in expected {
            parser.next_token();
        }
    }
    all
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
    fn long_identifiers_are_cut_to_63_bytes_and_nothing_else_changes() {
        let long = "a".repeat(70);
        let sql = format!("SELECT '{long}' AS {long}, \"{long}\" FROM t");
        let (cut, notices) = truncate_identifiers(&sql);
        let short = "a".repeat(63);
        assert_eq!(
            cut,
            format!("SELECT '{long}' AS {short}, \"{short}\" FROM t")
        );
        assert_eq!(notices.len(), 2);
        assert!(notices[0].ends_with(&format!("will be truncated to \"{short}\"")));
        // Multibyte characters are never split.
        let wide = "é".repeat(40);
        let sql = format!("SELECT 1 AS {wide}");
        let (cut, _) = truncate_identifiers(&sql);
        assert_eq!(cut, format!("SELECT 1 AS {}", "é".repeat(31)));
        assert!(matches!(
            truncate_identifiers("SELECT 1"),
            (std::borrow::Cow::Borrowed(_), _)
        ));
    }

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
            assert!(
                crate::sql::Statement::parse(sql).unwrap().is_none(),
                "{sql}"
            );
        }
    }

    #[test]
    fn brook_statements_are_recognised_from_the_split_tokens() {
        let parts = split_statements(
            "SELECT 'pipeline' AS model; CREATE PIPELINE p AS LOAD DATA KAFKA 'b/t' INTO TABLE t FORMAT JSON; \
             create or replace model m OPTIONS (model_type = 'linear_reg') AS SELECT 1 AS label; \
             SHOW MODELS; DROP TABLE pipeline",
        )
        .unwrap();
        let brook: Vec<bool> = parts.iter().map(|p| p.brook).collect();
        assert_eq!(brook, [false, true, true, true, false]);
        assert!(is_one_brook_statement("STOP PIPELINE p").unwrap());
        assert!(!is_one_brook_statement("STOP PIPELINE p; STOP PIPELINE q").unwrap());
        assert!(!is_one_brook_statement("SELECT * FROM model").unwrap());
    }

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let parts = split_statements("SELECT ';' ; -- a; comment\nSTART PIPELINE p;; SELECT $$;$$")
            .unwrap();
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert_eq!(parts[0].text, "SELECT ';'");
        assert!(parts[1].text.contains("START PIPELINE p"));
        assert_eq!(parts[2].text, "SELECT $$;$$");
        let brook: Vec<bool> = parts.iter().map(|p| p.brook).collect();
        assert_eq!(brook, [false, true, false]);
    }

    #[test]
    fn long_chains_are_refused_and_long_lists_are_not() {
        let chain = format!("SELECT {}", vec!["1"; 10_000].join("+"));
        assert!(matches!(
            check_complexity(&chain),
            Err(ParserError::RecursionLimitExceeded)
        ));
        let and_chain = format!("SELECT 1 WHERE {}", vec!["true"; 100_000].join(" AND "));
        assert!(check_complexity(&and_chain).is_err());
        let nested = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
        assert!(check_complexity(&nested).is_err());
        let values = format!(
            "INSERT INTO t VALUES {}",
            (0..20_000)
                .map(|i| format!("({i}, -{i}, 'x' || 'y')"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        check_complexity(&values).unwrap();
        let list = format!(
            "SELECT 1 WHERE x IN ({})",
            (0..50_000)
                .map(|i| format!("-{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        check_complexity(&list).unwrap();
        let hidden = format!("SELECT {}", vec!["f(1, 2)"; 5_000].join(" + "));
        assert!(check_complexity(&hidden).is_err());
    }

    #[test]
    fn split_statements_keep_their_text_byte_for_byte() {
        let sql = "INSERT INTO t (model) VALUES ('x''); DROP TABLE victim; --');\n\
                   SELECT 'é''s' AS \"mo;del\"; SELECT E'a\\'b'";
        let parts: Vec<String> = split_statements(sql)
            .unwrap()
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(
            parts,
            [
                "INSERT INTO t (model) VALUES ('x''); DROP TABLE victim; --')",
                "SELECT 'é''s' AS \"mo;del\"",
                "SELECT E'a\\'b'",
            ]
        );
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
                let _ = split_statements(&sql);
                let _ = crate::sql::Statement::parse(&sql);
            }

            #[test]
            fn arbitrary_text_parses_or_fails_without_panicking(sql in "\\PC{0,200}") {
                let _ = split_statements(&sql);
                let _ = crate::sql::Statement::parse(&sql);
            }
        }
    }
}
