//! One version of a table as DataFusion reads it: the Delta snapshot's files
//! and the memtable's rows, in one plan.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::memory::MemTable;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;

/// A table version: Delta's provider plus the rows committed since its
/// last flush. Both parts come from the same published version, so a scan
/// sees every commit before it and none after.
#[derive(Debug)]
pub struct VersionScan {
    pub schema: SchemaRef,
    pub delta: Arc<dyn TableProvider>,
    pub memtable: Vec<RecordBatch>,
}

#[async_trait]
impl TableProvider for VersionScan {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files = self.delta.scan(state, projection, filters, limit).await?;
        if self.memtable.is_empty() {
            return Ok(files);
        }
        let rows = MemTable::try_new(self.schema.clone(), vec![self.memtable.clone()])?
            .scan(state, projection, filters, limit)
            .await?;
        UnionExec::try_new(vec![files, rows])
    }

    /// [`never_exact`].
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        never_exact(self.delta.as_ref(), filters)
    }
}

/// Delta's answer, never `Exact`: deltalake 1.1 calls a filter that names no
/// column (`WHERE a != 1 AND NULL` simplified to `NULL`) a partition-only
/// filter it applies exactly, DataFusion then drops it, and the scan returns
/// every row (docs/compatibility.md). Brook's tables have no partitions, so
/// Delta only ever prunes files: DataFusion keeps every filter above the
/// scan (which the memtable's rows need too).
pub fn never_exact(
    delta: &dyn TableProvider,
    filters: &[&Expr],
) -> Result<Vec<TableProviderFilterPushDown>> {
    Ok(delta
        .supports_filters_pushdown(filters)?
        .into_iter()
        .map(|p| match p {
            TableProviderFilterPushDown::Exact => TableProviderFilterPushDown::Inexact,
            other => other,
        })
        .collect())
}
