//! UPDATE and DELETE plans kept out of common-subexpression elimination.
//!
//! DataFusion hands a table's `update`/`delete_from` the predicates of the
//! Filter nodes over its scan and the SET values of the top projection,
//! read off the optimized plan. Where the WHERE or the SET repeats an
//! expression (`WHERE a + 1 > 2 AND a + 1 < 10`), the CSE rule moves it
//! into a projection of its own below, and the table is handed a column
//! (`__common_expr_1`) it does not have: the statement failed with 42703.
//! Such a plan is one scan and one filter, where CSE saves nothing worth
//! the error; every other plan is optimized as before.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// DataFusion's rule of this name, but for UPDATE and DELETE plans.
#[derive(Debug)]
pub struct NotInDml(pub Arc<dyn OptimizerRule + Send + Sync>);

/// The name of DataFusion's rule that [`NotInDml`] wraps.
pub const COMMON_SUBEXPRESSIONS: &str = "common_sub_expression_eliminate";

impl OptimizerRule for NotInDml {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    #[allow(deprecated)]
    fn supports_rewrite(&self) -> bool {
        self.0.supports_rewrite()
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match &plan {
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Update | WriteOp::Delete) => {
                Ok(Transformed::no(plan))
            }
            _ => self.0.rewrite(plan, config),
        }
    }
}
