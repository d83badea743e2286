//! The model statements of SPEC §2 (BigQuery ML's grammar).
//!
//! ```sql
//! CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name
//!   [OPTIONS (model_type = 'logistic_reg', input_label_cols = ['match'], …)]
//!   AS SELECT …;
//! REFRESH MODEL name;  DROP MODEL [IF EXISTS] name;  SHOW MODELS;
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{Expr, UnaryOperator, Value};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use serde_json::Map;

use super::parser::{expect_word, parse_name, parse_word};
use crate::engine::Engine;
use crate::error::Result;
use crate::ml::MlError;
use crate::ml::options::{ModelOptions, Refresh};
use crate::ml::refresh;
use crate::ml::registry::check_name;

#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatement {
    Create {
        name: String,
        or_replace: bool,
        if_not_exists: bool,
        options: Map<String, serde_json::Value>,
        query: String,
    },
    Refresh {
        name: String,
    },
    Drop {
        name: String,
        if_exists: bool,
    },
    Show,
}

fn value_json(parser: &Parser, expr: &Expr) -> Result<serde_json::Value, ParserError> {
    let bad = || {
        ParserError::ParserError(format!(
            "model option values are strings, numbers, booleans or arrays of those; found {expr}"
        ))
    };
    let _ = parser;
    Ok(match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n
                .parse::<i64>()
                .map(serde_json::Value::from)
                .or_else(|_| n.parse::<f64>().map(serde_json::Value::from))
                .map_err(|_| bad())?,
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone().into(),
            Value::Boolean(b) => (*b).into(),
            Value::Null => serde_json::Value::Null,
            _ => return Err(bad()),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match value_json(parser, expr)? {
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(|i| serde_json::Value::from(-i))
                .or_else(|| n.as_f64().map(|f| serde_json::Value::from(-f)))
                .ok_or_else(bad)?,
            _ => return Err(bad()),
        },
        Expr::Array(array) => serde_json::Value::Array(
            array
                .elem
                .iter()
                .map(|e| value_json(parser, e))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Identifier(ident) => ident.value.clone().into(),
        _ => return Err(bad()),
    })
}

/// `OPTIONS (key = value, …)` as a JSON object.
fn parse_options(parser: &mut Parser) -> Result<Map<String, serde_json::Value>, ParserError> {
    let mut map = Map::new();
    parser.expect_token(&Token::LParen)?;
    loop {
        let key = parser.parse_identifier()?.value.to_lowercase();
        parser.expect_token(&Token::Eq)?;
        let value = parser.parse_expr()?;
        let json = value_json(parser, &value)?;
        if map.insert(key.clone(), json).is_some() {
            return Err(ParserError::ParserError(format!(
                "model option \"{key}\" is given twice"
            )));
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(map)
}

/// Parse a model statement; the parser stands at its first word.
pub fn parse(parser: &mut Parser) -> Result<ModelStatement, ParserError> {
    if parse_word(parser, "SHOW") {
        expect_word(parser, "MODELS")?;
        return Ok(ModelStatement::Show);
    }
    if parse_word(parser, "REFRESH") {
        expect_word(parser, "MODEL")?;
        return Ok(ModelStatement::Refresh {
            name: parse_name(parser)?,
        });
    }
    if parse_word(parser, "DROP") {
        expect_word(parser, "MODEL")?;
        let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        return Ok(ModelStatement::Drop {
            if_exists,
            name: parse_name(parser)?,
        });
    }
    parser.expect_keyword(Keyword::CREATE)?;
    let or_replace = parser.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
    expect_word(parser, "MODEL")?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parse_name(parser)?;
    let options = if parser.parse_keyword(Keyword::OPTIONS) {
        parse_options(parser)?
    } else {
        Map::new()
    };
    parser.expect_keyword(Keyword::AS)?;
    let query = parser.parse_query()?.to_string();
    Ok(ModelStatement::Create {
        name,
        or_replace,
        if_not_exists,
        options,
        query,
    })
}

const SHOW_MODELS: &str = "SELECT m.model_name, m.version, m.model_type, m.label, m.rows_trained, \
     m.refresh \
     FROM information_schema.models m \
     JOIN (SELECT model_name, max(version) AS version FROM information_schema.models GROUP BY model_name) c \
       ON m.model_name = c.model_name AND m.version = c.version \
     ORDER BY m.model_name";

/// SHOW MODELS' columns, for Describe.
pub fn show_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model_name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("model_type", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("rows_trained", DataType::Int64, false),
        Field::new("refresh", DataType::Utf8, false),
    ]))
}

/// What a model statement answers.
pub enum ModelOutcome {
    Done(&'static str),
    Rows(datafusion::prelude::DataFrame),
}

pub async fn execute(
    engine: &Arc<Engine>,
    statement: ModelStatement,
    notices: super::Notices,
) -> Result<ModelOutcome> {
    let models = &engine.models;
    let progress: crate::ml::train::Progress = {
        let notices = notices.clone();
        Arc::new(move |text| notices.send(text))
    };
    match statement {
        ModelStatement::Create {
            name,
            or_replace,
            if_not_exists,
            options,
            query,
        } => {
            check_name(&name)?;
            if models.registry.exists(&name) && !or_replace {
                if if_not_exists {
                    return Ok(ModelOutcome::Done("CREATE MODEL"));
                }
                return Err(MlError::Duplicate(name).into());
            }
            let options = ModelOptions::from_json(&options)?;
            let incremental = options.refresh == Refresh::Incremental;
            // Train first: a failed CREATE OR REPLACE leaves the old model in place.
            let trained = refresh::train_from_query_unpublished(
                &engine.model_context,
                &name,
                options,
                &query,
                Some(progress.clone()),
            )
            .await?;
            models.set_refresher(&name, None);
            if or_replace {
                models.registry.drop_model(&name, true)?;
            }
            let published = models.registry.publish(trained)?;
            tracing::info!(summary = %crate::ml::summary(&published), "model created");
            notices.send(crate::ml::report(&published));
            if incremental {
                let task = refresh::spawn(engine.model_context.clone(), name.clone());
                models.set_refresher(&name, Some(task));
            }
            Ok(ModelOutcome::Done("CREATE MODEL"))
        }
        ModelStatement::Refresh { name } => {
            let current = models.registry.resolve(&name)?;
            let Some(query) = current.source_query.clone() else {
                return Err(MlError::InvalidOption(format!(
                    "model \"{name}\" was trained with TRAIN(), which keeps no query; run TRAIN again"
                ))
                .into());
            };
            let trained = refresh::train_from_query_unpublished(
                &engine.model_context,
                &name,
                current.options.clone(),
                &query,
                Some(progress.clone()),
            )
            .await?;
            let published = models.registry.publish(trained)?;
            notices.send(crate::ml::report(&published));
            Ok(ModelOutcome::Done("REFRESH MODEL"))
        }
        ModelStatement::Drop { name, if_exists } => {
            models.set_refresher(&name, None);
            models.registry.drop_model(&name, if_exists)?;
            Ok(ModelOutcome::Done("DROP MODEL"))
        }
        ModelStatement::Show => Ok(ModelOutcome::Rows(engine.ctx.sql(SHOW_MODELS).await?)),
    }
}
