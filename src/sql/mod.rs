//! Brook's own statements: the ones DataFusion alone would get wrong for a
//! durable database (CREATE TABLE, DROP, TRUNCATE, CREATE VIEW, schemas, COPY).
//! One module per statement kind; everything else goes to DataFusion unchanged.

pub mod copy;
pub mod create_table;
pub mod drop;
pub mod views;

use datafusion::sql::sqlparser::ast::{CopySource, CopyTarget, ObjectType, Statement};

use crate::engine::Engine;
use crate::error::Result;
pub use copy::CopySpec;

/// What a Brook statement asks the protocol layer to answer.
#[derive(Debug)]
pub enum Outcome {
    /// Completed: the command tag (`CREATE TABLE`) and, for DML, the row count.
    Done {
        tag: &'static str,
        rows: Option<usize>,
    },
    /// `COPY … FROM STDIN`: the client is to send data, to be loaded by [`copy::load`].
    CopyIn(CopySpec),
}

impl Outcome {
    fn done(tag: &'static str) -> Self {
        Outcome::Done { tag, rows: None }
    }
}

/// Whether Brook (rather than plain DataFusion) executes `stmt`.
pub fn is_brook_statement(stmt: &Statement) -> bool {
    match stmt {
        Statement::CreateTable(_)
        | Statement::Truncate(_)
        | Statement::CreateView(_)
        | Statement::CreateSchema { .. } => true,
        Statement::Drop { object_type, .. } => matches!(
            object_type,
            ObjectType::Table | ObjectType::View | ObjectType::Schema
        ),
        Statement::Copy {
            source: CopySource::Table { .. },
            to: false,
            target: CopyTarget::Stdin,
            ..
        } => true,
        _ => false,
    }
}

/// Execute a statement for which [`is_brook_statement`] is true.
pub async fn execute(engine: &Engine, stmt: &Statement) -> Result<Outcome> {
    match stmt {
        Statement::CreateTable(create) => create_table::execute(engine, create).await,
        Statement::Truncate(truncate) => drop::truncate(engine, truncate).await,
        Statement::CreateView(view) => views::create_view(engine, stmt, view).await,
        Statement::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => views::create_schema(engine, schema_name, *if_not_exists).await,
        Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => drop::execute(engine, *object_type, names, *if_exists, *cascade).await,
        Statement::Copy {
            source:
                CopySource::Table {
                    table_name,
                    columns,
                },
            options,
            legacy_options,
            ..
        } => copy::prepare(engine, table_name, columns, options, legacy_options).await,
        other => Err(crate::error::BrookError::Unsupported(format!(
            "statement {other}"
        ))),
    }
}
