//! The model statements of SPEC §2 (BigQuery ML's grammar), one module per
//! statement: each parses its own text and executes itself.
//!
//! ```sql
//! CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name
//!   [OPTIONS (model_type = 'logistic_reg', input_label_cols = ['match'], …)]
//!   AS SELECT …;
//! REFRESH MODEL name;  DROP MODEL [IF EXISTS] name;  SHOW MODELS;
//! ```

mod create;
mod drop;
mod refresh;
mod show;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

pub use create::CreateModel;
pub use drop::DropModel;
pub use refresh::RefreshModel;
pub use show::ShowModels;

use super::Statement;
use super::parser::parse_word;

/// Parse one model statement; the caller has checked that it is one (its
/// object word is MODEL or MODELS).
pub(super) fn parse(parser: &mut Parser) -> Result<Statement, ParserError> {
    if parse_word(parser, "SHOW") {
        return ShowModels::parse(parser).map(Statement::ShowModels);
    }
    if parse_word(parser, "REFRESH") {
        return RefreshModel::parse(parser).map(Statement::RefreshModel);
    }
    if parser.parse_keyword(Keyword::DROP) {
        return DropModel::parse(parser).map(Statement::DropModel);
    }
    parser.expect_keyword(Keyword::CREATE)?;
    CreateModel::parse(parser).map(Statement::CreateModel)
}

/// Training reports its progress through the statement's notices.
fn progress(notices: &crate::sql::outcome::Notices) -> crate::ml::train::Progress {
    let notices = notices.clone();
    std::sync::Arc::new(move |text| notices.send(text))
}
