//! The pipeline statements of SPEC §2 (SingleStore's grammar, Kafka only),
//! one module per statement: each parses its own text and executes itself.
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

mod alter;
mod create;
mod drop;
mod show;
mod start;
mod stop;
mod test;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

pub use alter::{RetryPipelineErrors, SetPipelineOffsets};
pub use create::CreatePipeline;
pub use drop::DropPipeline;
pub use show::ShowPipelines;
pub use start::StartPipeline;
pub use stop::StopPipeline;
pub use test::TestPipeline;

use super::Statement;
use super::parser::parse_word;

fn error(message: impl Into<String>) -> ParserError {
    ParserError::ParserError(message.into())
}

/// Parse one pipeline statement; the caller has checked that it is one
/// (its object word is PIPELINE or PIPELINES).
pub(super) fn parse(parser: &mut Parser) -> Result<Statement, ParserError> {
    if parser.parse_keyword(Keyword::CREATE) {
        return CreatePipeline::parse(parser).map(Statement::CreatePipeline);
    }
    if parse_word(parser, "START") {
        return StartPipeline::parse(parser).map(Statement::StartPipeline);
    }
    if parse_word(parser, "STOP") {
        return StopPipeline::parse(parser).map(Statement::StopPipeline);
    }
    if parser.parse_keyword(Keyword::ALTER) {
        return alter::parse(parser);
    }
    if parser.parse_keyword(Keyword::DROP) {
        return DropPipeline::parse(parser).map(Statement::DropPipeline);
    }
    if parse_word(parser, "SHOW") {
        return ShowPipelines::parse(parser).map(Statement::ShowPipelines);
    }
    if parse_word(parser, "TEST") {
        return TestPipeline::parse(parser).map(Statement::TestPipeline);
    }
    let found = parser.peek_token();
    parser.expected("a pipeline statement", found)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::pipeline::definition::{
        DEFAULT_BATCH_INTERVAL_MS, DuplicateMode, ErrorMode, Format, PipelineDef, StartOffsets,
    };

    fn pipeline(sql: &str) -> Statement {
        match Statement::parse(sql) {
            Ok(Some(statement)) => statement,
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn create(sql: &str) -> PipelineDef {
        match pipeline(sql) {
            Statement::CreatePipeline(create) => *create.def,
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
            Statement::StartPipeline(StartPipeline {
                name: "p".into(),
                foreground: Some(Some(3))
            })
        );
        assert_eq!(
            pipeline("ALTER PIPELINE p SET OFFSETS '{\"0\": 10, \"2\": 7}'"),
            Statement::SetPipelineOffsets(SetPipelineOffsets {
                name: "p".into(),
                offsets: StartOffsets::Explicit(BTreeMap::from([(0, 10), (2, 7)]))
            })
        );
        assert_eq!(
            pipeline("SHOW PIPELINES"),
            Statement::ShowPipelines(ShowPipelines)
        );
        assert_eq!(
            pipeline("TEST PIPELINE p LIMIT 5"),
            Statement::TestPipeline(TestPipeline {
                name: "p".into(),
                limit: Some(5)
            })
        );
    }

    #[test]
    fn errors_name_the_token_and_hide_secrets() {
        let err = Statement::parse(
            "CREATE PIPELINE p AS LOAD DATA KAFKA 'h:1/t' BATCH_INTERVAL soon INTO TABLE t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("soon") && err.contains("Column"), "{err}");
        let err = Statement::parse(
            "CREATE PIPELINE p AS LOAD DATA KAFKA 'h:1/t' CREDENTIALS '{\"sasl.password\": hunter2}' INTO TABLE t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("CREDENTIALS must be a JSON object"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = Statement::parse("START PIPELINE").unwrap_err().to_string();
        assert!(err.contains("EOF"), "{err}");
    }
}
