//! `TRAIN(model, options_json, label, feature, …)`: an aggregate that fits a
//! model on the rows it sees, publishes it as the model's next version and
//! returns a one-line JSON summary. Its state is the rows themselves (one
//! list per column), so DataFusion's partial/final aggregation can merge
//! the rows of every partition before training.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result as DfResult, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use super::error::MlError;
use super::model::{Lineage, Progressive};
use super::options::ModelOptions;
use super::registry::{Registry, check_name, normalize};
use super::train::{TrainRequest, TrainingData, train};

#[derive(Debug)]
pub struct Train {
    registry: Arc<Registry>,
    signature: Signature,
}

impl PartialEq for Train {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.registry, &other.registry)
    }
}
impl Eq for Train {}
impl Hash for Train {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "train".hash(state);
    }
}

pub fn aggregate(registry: &Arc<Registry>) -> AggregateUDF {
    AggregateUDF::new_from_impl(Train {
        registry: registry.clone(),
        signature: Signature::variadic_any(Volatility::Volatile),
    })
}

fn constant_text(args: &AccumulatorArgs, i: usize, what: &str) -> DfResult<String> {
    let value = args
        .exprs
        .get(i)
        .and_then(|e| e.downcast_ref::<Literal>())
        .map(|l| l.value().clone());
    match value {
        Some(ScalarValue::Utf8(Some(s)))
        | Some(ScalarValue::LargeUtf8(Some(s)))
        | Some(ScalarValue::Utf8View(Some(s))) => Ok(s),
        _ => Err(MlError::Arguments(format!(
            "TRAIN's {what} must be a string constant: TRAIN('model', '{{\"model_type\": \"logistic_reg\"}}', label, feature, …)"
        ))
        .into()),
    }
}

/// A column's name as the user wrote it (`t.age` → `age`).
fn column_name(field: &Field) -> String {
    let name = field.name();
    name.rsplit_once('.')
        .map_or(name.as_str(), |(_, n)| n)
        .to_string()
}

impl AggregateUDFImpl for Train {
    fn name(&self) -> &str {
        "train"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        if arg_types.len() < 4 {
            return plan_err!(
                "TRAIN takes a model name, an options JSON, a label and at least one feature: \
                 TRAIN('model', '{{\"model_type\": \"logistic_reg\"}}', label, feature, …)"
            );
        }
        Ok(DataType::Utf8)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(args
            .input_fields
            .iter()
            .enumerate()
            .skip(2)
            .map(|(i, f)| {
                Arc::new(Field::new(
                    format!("{}[{i}]", args.name),
                    DataType::new_list(f.data_type().clone(), true),
                    true,
                ))
            })
            .collect())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let model = normalize(&constant_text(&args, 0, "first argument (the model name)")?);
        check_name(&model)?;
        let options = ModelOptions::from_text(&constant_text(
            &args,
            1,
            "second argument (the options JSON)",
        )?)?;
        let names: Vec<String> = args.expr_fields[2..]
            .iter()
            .map(|f| column_name(f))
            .collect();
        Ok(Box::new(TrainAccumulator {
            registry: self.registry.clone(),
            model,
            options,
            names,
            columns: vec![vec![]; args.expr_fields.len() - 2],
        }))
    }
}

#[derive(Debug)]
struct TrainAccumulator {
    registry: Arc<Registry>,
    model: String,
    options: ModelOptions,
    /// The label's name, then each feature's.
    names: Vec<String>,
    /// Per column (label first), the arrays seen so far.
    columns: Vec<Vec<ArrayRef>>,
}

impl TrainAccumulator {
    fn concatenated(&self) -> DfResult<Vec<ArrayRef>> {
        self.columns
            .iter()
            .map(|parts| {
                let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                if refs.is_empty() {
                    Ok(datafusion::arrow::array::new_empty_array(&DataType::Null))
                } else {
                    Ok(concat(&refs)?)
                }
            })
            .collect()
    }
}

impl Accumulator for TrainAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        for (column, array) in self.columns.iter_mut().zip(&values[2..]) {
            column.push(array.clone());
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        for (column, state) in self.columns.iter_mut().zip(states) {
            let lists = state.as_list::<i32>();
            for i in 0..lists.len() {
                if !lists.is_null(i) {
                    column.push(lists.value(i));
                }
            }
        }
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(self
            .concatenated()?
            .into_iter()
            .map(|a| SingleRowListArrayBuilder::new(a).build_list_scalar())
            .collect())
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let mut columns = self.concatenated()?;
        let label = columns.remove(0);
        let data = TrainingData {
            label_name: self.names[0].clone(),
            label,
            feature_names: self.names[1..].to_vec(),
            features: columns,
        };
        let request = TrainRequest {
            progress: None,
            name: self.model.clone(),
            options: self.options.clone(),
            source_query: None,
            lineage: Lineage::default(),
            warm: None,
            progressive: Progressive::default(),
        };
        // Training is CPU-bound: let the runtime move its other tasks off
        // this worker while it runs.
        let run = || train(request, data);
        let trained = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(run)
            }
            _ => run(),
        }?;
        let published = self.registry.publish(trained)?;
        Ok(ScalarValue::Utf8(Some(super::summary(&published))))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .columns
                .iter()
                .flatten()
                .map(|a| a.get_array_memory_size())
                .sum::<usize>()
    }
}
