//! The demo's SQL: the files of `sql/speed_dating/`, built into the binary so
//! that `brook demo` runs from anywhere, and split into statements the way
//! `psql -f` sends them.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// One file of the story, in the order a user runs them.
#[derive(Debug, Clone, Copy)]
pub struct ScriptFile {
    pub name: &'static str,
    /// What the step does, for the report.
    pub step: &'static str,
    pub text: &'static str,
    /// The pipeline whose messages must all have landed before the next
    /// file runs (the model needs its training rows, the analyst the scores).
    pub then_catch_up: Option<&'static str>,
    /// Whether the statements' answers are the report's analyst queries.
    pub analysis: bool,
}

/// `sql/speed_dating/*.sql`, in order. The same files run unchanged with
/// `psql -f` against `brook serve --kafka …`.
pub const FILES: [ScriptFile; 5] = [
    ScriptFile {
        name: "01_tables.sql",
        step: "create the tables",
        text: include_str!("../../sql/speed_dating/01_tables.sql"),
        then_catch_up: None,
        analysis: false,
    },
    ScriptFile {
        name: "02_training_pipeline.sql",
        step: "ingest waves 1-14 (topic training)",
        text: include_str!("../../sql/speed_dating/02_training_pipeline.sql"),
        then_catch_up: Some("speed_dating_training"),
        analysis: false,
    },
    ScriptFile {
        name: "03_model.sql",
        step: "train dating_model",
        text: include_str!("../../sql/speed_dating/03_model.sql"),
        then_catch_up: None,
        analysis: false,
    },
    ScriptFile {
        name: "04_results_pipeline.sql",
        step: "start scoring waves 15-21 (topic classify)",
        text: include_str!("../../sql/speed_dating/04_results_pipeline.sql"),
        then_catch_up: Some("speed_dating_results"),
        analysis: false,
    },
    ScriptFile {
        name: "05_analysis.sql",
        step: "the analyst's queries",
        text: include_str!("../../sql/speed_dating/05_analysis.sql"),
        then_catch_up: None,
        analysis: true,
    },
];

/// A statement and the comment line just above it (its title in the report).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub title: Option<String>,
    pub sql: String,
}

/// Split a script at its top-level semicolons. The tokenizer of the SQL parser
/// Brook already uses does the lexing (quotes, `--` and `/* */` comments,
/// dollar quoting), so a `;` inside a string never splits; tokens are kept as
/// written (`with_unescape(false)`) so the text sent is the text in the file.
pub fn statements(script: &str) -> Result<Vec<Statement>, String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, script)
        .with_unescape(false)
        .tokenize()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut title: Option<String> = None;
    let mut sql = String::new();
    for token in tokens {
        match token {
            Token::SemiColon => {
                if !sql.trim().is_empty() {
                    out.push(Statement {
                        title: title.take(),
                        sql: sql.trim().to_string(),
                    });
                }
                sql.clear();
                title = None;
            }
            Token::Whitespace(Whitespace::SingleLineComment { comment, .. })
                if sql.trim().is_empty() =>
            {
                // The comment line closest to the statement is its title.
                title = Some(comment.trim().to_string()).filter(|c| !c.is_empty());
            }
            Token::Whitespace(Whitespace::Newline) if sql.trim().is_empty() => {
                // A comment token holds its own line end, so a newline here is
                // a blank line: the comment above belongs to no statement.
                title = None;
                sql.push('\n');
            }
            other => sql.push_str(&other.to_string()),
        }
    }
    if !sql.trim().is_empty() {
        out.push(Statement {
            title,
            sql: sql.trim().to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let script = "-- intro\n\n-- first\nSELECT 'a;b', \"x;y\" FROM t; /* c; */ SELECT 'it''s';\n-- last\nSELECT 1";
        let got = statements(script).unwrap();
        assert_eq!(
            got,
            vec![
                Statement {
                    title: Some("first".into()),
                    sql: "SELECT 'a;b', \"x;y\" FROM t".into()
                },
                Statement {
                    title: None,
                    sql: "/* c; */ SELECT 'it''s'".into()
                },
                Statement {
                    title: Some("last".into()),
                    sql: "SELECT 1".into()
                },
            ]
        );
    }

    #[test]
    fn a_comment_block_apart_from_the_statement_is_not_its_title() {
        let got = statements("-- about the file\n\nSELECT 1;").unwrap();
        assert_eq!(got[0].title, None);
    }

    #[test]
    fn every_demo_file_splits() {
        let counts: Vec<usize> = FILES
            .iter()
            .map(|f| statements(f.text).unwrap().len())
            .collect();
        assert_eq!(counts, vec![2, 3, 2, 2, 5]);
        let analysis = statements(FILES[4].text).unwrap();
        assert!(analysis.iter().all(|s| s.title.is_some()));
    }
}
