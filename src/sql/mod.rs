//! Brook's own statements: the ones DataFusion alone would get wrong for a
//! durable database (CREATE TABLE, DROP, TRUNCATE, CREATE VIEW, schemas, COPY).
//! One module per statement kind; everything else goes to DataFusion unchanged.

pub mod copy;
pub mod copy_out;
pub mod create_table;
pub mod dml_subqueries;
pub mod drop;
pub mod model;
pub mod parser;
pub mod pipeline;
pub mod views;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::DataFrame;
use datafusion::sql::sqlparser::ast::{CopySource, CopyTarget, ObjectType, Statement};

use crate::catalog::QualifiedName;
use crate::engine::Engine;
use crate::error::Result;
pub use copy::CopySpec;
pub use copy_out::CopyOutSpec;
pub use parser::{Extension, parse_extension};
use pipeline::PipelineStatement;

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
    /// `COPY … TO STDOUT`: a query's rows to stream to the client.
    CopyOut(CopyOutSpec),
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
        // Every COPY FROM: from STDIN Brook loads it, from a file or a
        // program it refuses (they would reach the server's files).
        Statement::Copy { to: false, .. } => true,
        // Every COPY TO: to STDOUT Brook streams it, to a file it refuses
        // (DataFusion would write the server's files).
        Statement::Copy { to: true, .. } => true,
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
            source,
            to: true,
            target,
            options,
            legacy_options,
            ..
        } => copy_out::prepare(source, target, options, legacy_options),
        Statement::Copy {
            to: false, target, ..
        } if !matches!(target, CopyTarget::Stdin) => Err(crate::error::BrookError::NotAllowed(
            "COPY FROM a file or a program reads the server's files; \
             use COPY … FROM STDIN (psql: \\copy)"
                .into(),
        )),
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

/// What one of Brook's own statements (see [`parser`]) answers.
pub enum ExtensionOutcome {
    Done {
        tag: &'static str,
        rows: Option<usize>,
    },
    /// Rows to send (SHOW PIPELINES, TEST PIPELINE).
    Rows(DataFrame),
}

/// The rows TEST PIPELINE returns by default.
const TEST_DEFAULT_LIMIT: u64 = 10;

const SHOW_PIPELINES: &str = "SELECT pipeline_name, state, source, table_name \
     FROM information_schema.pipelines ORDER BY pipeline_name";

/// The columns a Brook statement returns, known before it runs (for the
/// extended protocol's Describe). `None`: no rows.
pub fn extension_schema(engine: &Engine, ext: &Extension) -> Option<SchemaRef> {
    match ext {
        Extension::Pipeline(PipelineStatement::Show) => Some(Arc::new(Schema::new(
            ["pipeline_name", "state", "source", "table_name"]
                .iter()
                .map(|n| Field::new(*n, DataType::Utf8, false))
                .collect::<Vec<_>>(),
        ))),
        Extension::Pipeline(PipelineStatement::RetryErrors { .. }) => Some(retry_schema()),
        Extension::Pipeline(PipelineStatement::Test { name, .. }) => {
            let listing = engine.pipelines.listing();
            let listing = listing.read().ok()?;
            let (def, _) = listing.get(name)?;
            let table = engine.catalog.table(&QualifiedName {
                schema: def.table_schema.clone(),
                name: def.table_name.clone(),
            })?;
            Some(datafusion::catalog::TableProvider::schema(&table))
        }
        Extension::Model(model::ModelStatement::Show) => Some(model::show_schema()),
        _ => None,
    }
}

/// What `ALTER PIPELINE … RETRY ERRORS` answers: one row of counts.
fn retry_schema() -> SchemaRef {
    Arc::new(Schema::new(
        ["retried", "loaded", "filtered", "failed"]
            .iter()
            .map(|n| Field::new(*n, DataType::Int64, false))
            .collect::<Vec<_>>(),
    ))
}

/// Where a long statement reports progress: the client's NOTICE messages.
#[derive(Clone, Default)]
pub struct Notices(Option<tokio::sync::mpsc::UnboundedSender<String>>);

impl Notices {
    /// A sender for the statement and the receiver the protocol layer drains.
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    /// Nowhere (statements run outside a session).
    pub fn none() -> Self {
        Self(None)
    }

    pub fn send(&self, text: impl Into<String>) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(text.into());
        }
    }
}

/// Execute one of Brook's own statements.
pub async fn execute_extension(
    engine: &Arc<Engine>,
    ext: Extension,
    notices: Notices,
) -> Result<ExtensionOutcome> {
    let done = |tag| ExtensionOutcome::Done { tag, rows: None };
    let statement = match ext {
        Extension::Pipeline(statement) => statement,
        Extension::Model(statement) => {
            return Ok(match model::execute(engine, statement, notices).await? {
                model::ModelOutcome::Done(tag) => done(tag),
                model::ModelOutcome::Rows(df) => ExtensionOutcome::Rows(df),
            });
        }
    };
    let pipelines = &engine.pipelines;
    Ok(match statement {
        PipelineStatement::Create {
            def,
            or_replace,
            if_not_exists,
        } => {
            pipelines.create(*def, or_replace, if_not_exists).await?;
            done("CREATE PIPELINE")
        }
        PipelineStatement::Start {
            name,
            foreground: None,
        } => {
            pipelines.start(&name).await?;
            done("START PIPELINE")
        }
        PipelineStatement::Start {
            name,
            foreground: Some(limit),
        } => {
            let rows = pipelines.run_foreground(&name, limit).await?;
            ExtensionOutcome::Done {
                tag: "START PIPELINE",
                rows: Some(rows as usize),
            }
        }
        PipelineStatement::Stop { name } => {
            pipelines.stop(&name).await?;
            done("STOP PIPELINE")
        }
        PipelineStatement::SetOffsets { name, offsets } => {
            pipelines.set_offsets(&name, offsets).await?;
            done("ALTER PIPELINE")
        }
        PipelineStatement::RetryErrors { name, filter } => {
            let report = pipelines.retry_errors(&name, filter.as_deref()).await?;
            let batch = RecordBatch::try_new(
                retry_schema(),
                [
                    report.retried,
                    report.loaded,
                    report.filtered,
                    report.failed,
                ]
                .into_iter()
                .map(|n| Arc::new(Int64Array::from(vec![n as i64])) as ArrayRef)
                .collect(),
            )?;
            ExtensionOutcome::Rows(engine.ctx.read_batch(batch)?)
        }
        PipelineStatement::Drop { name, if_exists } => {
            pipelines.drop_pipeline(&name, if_exists).await?;
            done("DROP PIPELINE")
        }
        PipelineStatement::Show => ExtensionOutcome::Rows(engine.ctx.sql(SHOW_PIPELINES).await?),
        PipelineStatement::Test { name, limit } => {
            let limit = limit.unwrap_or(TEST_DEFAULT_LIMIT) as usize;
            let batch = pipelines.test(&name, limit).await?;
            ExtensionOutcome::Rows(engine.ctx.read_batch(batch)?)
        }
    })
}
