//! `UPDATE` and `DELETE` on durable tables, as Delta update/delete commits.
//!
//! DataFusion asks the table for a plan that yields the affected-row count.
//! The work must happen when that plan runs, not when it is built (a prepared
//! statement is planned at Parse and may never execute), so the operation is a
//! `DataSink` behind `DataSinkExec` over an empty input: it runs once, in
//! `write_all`, and its return value is the count.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::Column;
use datafusion::common::Result as DfResult;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, and};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::StreamExt;

use super::DurableTable;
use super::transaction::SessionTransaction;

pub use super::rewrite::Change;

/// DataFusion qualifies columns with the table's name; Delta evaluates
/// predicates against the bare columns of the table.
fn unqualified(expr: Expr) -> DfResult<Expr> {
    expr.transform_up(|e| match e {
        Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
            c.name,
        )))),
        other => Ok(Transformed::no(other)),
    })
    .data()
}

/// The plan DataFusion runs for `DELETE`/`UPDATE … WHERE filters`.
pub fn plan(
    table: DurableTable,
    session: Option<Arc<SessionTransaction>>,
    change: Change,
    filters: Vec<Expr>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let predicate = filters
        .into_iter()
        .map(unqualified)
        .collect::<DfResult<Vec<_>>>()?
        .into_iter()
        .reduce(and);
    let change = match change {
        Change::Delete => Change::Delete,
        Change::Update(assignments) => Change::Update(
            assignments
                .into_iter()
                .map(|(c, e)| Ok((c, unqualified(e)?)))
                .collect::<DfResult<_>>()?,
        ),
    };
    let empty: SchemaRef = Arc::new(Schema::empty());
    let sink = DmlSink {
        table,
        session,
        change,
        predicate,
        schema: empty.clone(),
    };
    Ok(Arc::new(DataSinkExec::new(
        Arc::new(EmptyExec::new(empty)),
        Arc::new(sink),
        None,
    )))
}

struct DmlSink {
    table: DurableTable,
    /// The session's transaction slot: the change goes there while one is open.
    session: Option<Arc<SessionTransaction>>,
    change: Change,
    predicate: Option<Expr>,
    schema: SchemaRef,
}

impl fmt::Debug for DmlSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DmlSink({})", self.table.name())
    }
}

impl DisplayAs for DmlSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.change {
            Change::Delete => "Delete",
            Change::Update(_) => "Update",
        };
        write!(f, "Durable{op}: table={}", self.table.name())?;
        if let Some(p) = &self.predicate {
            write!(f, ", predicate={p}")?;
        }
        Ok(())
    }
}

#[async_trait]
impl DataSink for DmlSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        while data.next().await.transpose()?.is_some() {}
        let change = match &self.change {
            Change::Delete => Change::Delete,
            Change::Update(assignments) => Change::Update(assignments.clone()),
        };
        self.table
            .rewrite_in(self.session.as_deref(), self.predicate.clone(), change)
            .await
            .map_err(DataFusionError::from)
    }
}
