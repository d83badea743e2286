//! `CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name [OPTIONS (…)] AS SELECT …`:
//! train on the query's rows, then publish the model as its next version.

use datafusion::sql::sqlparser::ast::{Expr, UnaryOperator, Value};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use serde_json::Map;

use crate::engine::Engine;
use crate::error::Result;
use crate::ml::MlError;
use crate::ml::options::{ModelOptions, Refresh};
use crate::ml::refresh;
use crate::ml::registry::check_name;
use crate::sql::outcome::{Notices, Outcome};
use crate::sql::parser::{expect_word, parse_name};

#[derive(Debug, Clone, PartialEq)]
pub struct CreateModel {
    pub name: String,
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub options: Map<String, serde_json::Value>,
    pub query: String,
}

impl CreateModel {
    /// The parser stands after CREATE.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
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
        Ok(Self {
            name,
            or_replace,
            if_not_exists,
            options,
            query,
        })
    }

    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &datafusion::prelude::SessionContext,
        notices: Notices,
    ) -> Result<Outcome> {
        let models = &engine.models;
        let name = self.name;
        // A replaced model keeps its owner and grants; a new one is its
        // creator's.
        let acl = models.registry.acl_of(&name).unwrap_or_else(|| {
            crate::catalog::Acl::owned_by(crate::sql::authorize::identity(engine, ctx).oid())
        });
        check_name(&name)?;
        if models.registry.exists(&name) && !self.or_replace {
            if self.if_not_exists {
                return Ok(Outcome::done("CREATE MODEL"));
            }
            return Err(MlError::Duplicate(name).into());
        }
        let options = ModelOptions::from_json(&self.options)?;
        let incremental = options.refresh == Refresh::Incremental;
        // Train first: a failed CREATE OR REPLACE leaves the old model in place.
        let trained = refresh::train_from_query_unpublished(
            &engine.model_context,
            &name,
            options,
            &self.query,
            Some(super::progress(&notices)),
        )
        .await?;
        models.set_refresher(&name, None);
        if self.or_replace {
            models.registry.drop_model(&name, true)?;
        }
        let published = models.registry.publish(trained)?;
        models.registry.set_acl(&name, acl)?;
        tracing::info!(summary = %crate::ml::summary(&published), "model created");
        notices.send(crate::ml::report(&published));
        if incremental {
            let task = refresh::spawn(engine.model_context.clone(), name.clone());
            models.set_refresher(&name, Some(task));
        }
        Ok(Outcome::done("CREATE MODEL"))
    }
}

fn value_json(expr: &Expr) -> Result<serde_json::Value, ParserError> {
    let bad = || {
        ParserError::ParserError(format!(
            "model option values are strings, numbers, booleans or arrays of those; found {expr}"
        ))
    };
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
        } => match value_json(expr)? {
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
                .map(value_json)
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
        let json = value_json(&value)?;
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
