//! A read-only table whose rows are computed when a query scans it, for the
//! system tables that show live server state (`information_schema.pipelines`,
//! `pipelines_cursors`, …). Each scan sees one consistent snapshot of the state.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

/// The type of a system table's points in time (`timestamptz`).
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A point in time as a [`timestamp_type`] value.
pub fn micros(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Produces the table's rows at scan time.
pub type RowSource = Arc<dyn Fn() -> DfResult<RecordBatch> + Send + Sync>;

/// Rows that depend on who reads them: the role the reading session
/// logged in as is passed in.
pub type ViewerRowSource = Arc<dyn Fn(&str) -> DfResult<RecordBatch> + Send + Sync>;

/// A table backed by a function of the server's state.
pub struct SystemTable {
    schema: SchemaRef,
    rows: ViewerRowSource,
}

impl SystemTable {
    pub fn new(schema: SchemaRef, rows: RowSource) -> Self {
        Self {
            schema,
            rows: Arc::new(move |_viewer: &str| rows()),
        }
    }

    /// A table whose rows depend on the reading role (what it may see of
    /// other roles' work).
    pub fn for_viewer(schema: SchemaRef, rows: ViewerRowSource) -> Self {
        Self { schema, rows }
    }
}

impl fmt::Debug for SystemTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemTable")
            .field("schema", &self.schema)
            .finish()
    }
}

#[async_trait]
impl TableProvider for SystemTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let viewer = super::settings::session_role(state.config_options());
        let batch = (self.rows)(&viewer)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
