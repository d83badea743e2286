//! `REFRESH MODEL name`: train again on the query the model was created
//! with, and publish the result as its next version.

use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::engine::Engine;
use crate::error::Result;
use crate::ml::MlError;
use crate::ml::refresh;
use crate::sql::outcome::{Notices, Outcome};
use crate::sql::parser::{expect_word, parse_name};

#[derive(Debug, Clone, PartialEq)]
pub struct RefreshModel {
    pub name: String,
}

impl RefreshModel {
    /// The parser stands after REFRESH.
    pub fn parse(parser: &mut Parser) -> Result<Self, ParserError> {
        expect_word(parser, "MODEL")?;
        Ok(Self {
            name: parse_name(parser)?,
        })
    }

    pub async fn execute(self, engine: &Engine, notices: Notices) -> Result<Outcome> {
        let name = self.name;
        let current = engine.models.registry.resolve(&name)?;
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
            Some(super::progress(&notices)),
        )
        .await?;
        let published = engine.models.registry.publish(trained)?;
        notices.send(crate::ml::report(&published));
        Ok(Outcome::done("REFRESH MODEL"))
    }
}
