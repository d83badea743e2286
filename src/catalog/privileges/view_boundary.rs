//! Where a view's query begins inside a plan.
//!
//! DataFusion inlines a view's plan where the view is named, so a plan
//! alone cannot tell `SELECT * FROM v` from a query on v's tables. But
//! PostgreSQL checks the two differently: the reader needs SELECT on the
//! view, and the view's own tables are checked against the view's owner.
//! So a session's catalog hands out views wrapped in [`CheckedView`],
//! whose plan is the view's under a [`ViewBoundary`] node naming it; the
//! privilege check reads the boundary and then removes it, before any
//! other analyzer rule or the optimizer sees the plan (`plan_check`).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchemaRef, Result};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, TableProviderFilterPushDown, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;

use crate::catalog::names::QualifiedName;

/// The top of a view's inlined plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct ViewBoundary {
    pub schema: String,
    pub name: String,
    pub input: LogicalPlan,
}

impl ViewBoundary {
    pub fn view(&self) -> QualifiedName {
        QualifiedName {
            schema: self.schema.clone(),
            name: self.name.clone(),
        }
    }
}

impl UserDefinedLogicalNodeCore for ViewBoundary {
    fn name(&self) -> &str {
        "ViewBoundary"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ViewBoundary: {}.{}", self.schema, self.name)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let input = inputs.pop().ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("ViewBoundary without input".into())
        })?;
        Ok(Self {
            schema: self.schema.clone(),
            name: self.name.clone(),
            input,
        })
    }
}

/// The boundary `plan` is, if it is one.
pub fn as_boundary(plan: &LogicalPlan) -> Option<&ViewBoundary> {
    match plan {
        LogicalPlan::Extension(Extension { node }) => node.as_any().downcast_ref::<ViewBoundary>(),
        _ => None,
    }
}

/// A view as a session's queries see it: its plan under a boundary.
#[derive(Debug)]
pub struct CheckedView {
    view: QualifiedName,
    inner: Arc<dyn TableProvider>,
}

impl CheckedView {
    /// `provider` wrapped if it is a view (anything else as it is).
    pub fn wrap(view: QualifiedName, provider: Arc<dyn TableProvider>) -> Arc<dyn TableProvider> {
        if provider.table_type() != TableType::View || provider.get_logical_plan().is_none() {
            return provider;
        }
        Arc::new(Self {
            view,
            inner: provider,
        })
    }
}

#[async_trait]
impl TableProvider for CheckedView {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        let input = self.inner.get_logical_plan()?.into_owned();
        Some(Cow::Owned(LogicalPlan::Extension(Extension {
            node: Arc::new(ViewBoundary {
                schema: self.view.schema.clone(),
                name: self.view.name.clone(),
                input,
            }),
        })))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }
}
