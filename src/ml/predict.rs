//! `PREDICT`, `PREDICT_PROBA` and `MODEL_VERSION` as DataFusion scalar
//! functions. The model is checked when the query is planned (arity and
//! types, so a mistake fails before any row is read) and looked up once per
//! batch when it runs; the batch's features are encoded into one matrix and
//! scored together.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::error::MlError;
use super::model::ModelVersion;
use super::preprocess::sql_type_name;
use super::registry::Registry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Predict,
    Proba,
}

/// PREDICT / PREDICT_PROBA over one model, features by position.
#[derive(Debug)]
pub struct Predict {
    registry: Arc<Registry>,
    kind: Kind,
    signature: Signature,
}

impl PartialEq for Predict {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.registry, &other.registry)
    }
}
impl Eq for Predict {}
impl Hash for Predict {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

/// The model named by a constant first argument.
fn model_argument(
    function: &str,
    registry: &Registry,
    value: Option<&ScalarValue>,
) -> Result<Arc<ModelVersion>, MlError> {
    match value {
        Some(ScalarValue::Utf8(Some(name)))
        | Some(ScalarValue::LargeUtf8(Some(name)))
        | Some(ScalarValue::Utf8View(Some(name))) => registry.resolve(name),
        _ => Err(MlError::Arguments(format!(
            "{function}'s first argument must be the model's name as a string constant, as {function}('my_model', …)"
        ))),
    }
}

/// Check the feature arguments against the model's features.
fn check_features(
    function: &str,
    model: &ModelVersion,
    types: &[&DataType],
) -> Result<(), MlError> {
    let features = &model.preprocessor.features;
    if types.len() != features.len() {
        return Err(MlError::Arguments(format!(
            "{function}('{}', …) takes {} features in this order: {}; {} given",
            model.name,
            features.len(),
            model.preprocessor.signature(),
            types.len()
        )));
    }
    for (i, (feature, dt)) in features.iter().zip(types).enumerate() {
        if !feature.accepts(dt) {
            return Err(MlError::Arguments(format!(
                "{function}('{}', …): feature {} ({}) must be {}, not {}; the features are: {}",
                model.name,
                i + 1,
                feature.name,
                feature.sql_type,
                sql_type_name(dt),
                model.preprocessor.signature()
            )));
        }
    }
    Ok(())
}

impl Predict {
    fn new(registry: Arc<Registry>, kind: Kind) -> Self {
        Self {
            registry,
            kind,
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }

    fn output_type(&self, model: &ModelVersion) -> Result<DataType, MlError> {
        match (self.kind, &model.classes) {
            (Kind::Predict, Some(classes)) => Ok(classes.data_type()),
            (Kind::Predict, None) | (Kind::Proba, Some(_)) => Ok(DataType::Float64),
            (Kind::Proba, None) => Err(MlError::Arguments(format!(
                "PREDICT_PROBA needs a classifier; model \"{}\" is a {} (use PREDICT)",
                model.name,
                model.model_type().name()
            ))),
        }
    }
}

impl ScalarUDFImpl for Predict {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Predict => "predict",
            Kind::Proba => "predict_proba",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        // The type depends on the model, so return_field_from_args answers.
        exec_err!("{} needs its model name to know its type", self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let function = self.name().to_uppercase();
        let model = model_argument(
            &function,
            &self.registry,
            args.scalar_arguments.first().copied().flatten(),
        )?;
        let types: Vec<&DataType> = args.arg_fields[1..].iter().map(|f| f.data_type()).collect();
        check_features(&function, &model, &types)?;
        Ok(Arc::new(Field::new(
            self.name(),
            self.output_type(&model)?,
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let function = self.name().to_uppercase();
        let name = match args.args.first() {
            Some(ColumnarValue::Scalar(s)) => Some(s.clone()),
            _ => None,
        };
        let model = model_argument(&function, &self.registry, name.as_ref())?;
        let rows = args.number_rows;
        let features = args.args[1..]
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let types: Vec<&DataType> = features.iter().map(|f| f.data_type()).collect();
        check_features(&function, &model, &types)?;
        let out = match self.kind {
            Kind::Predict => model.predict(&features, rows)?,
            Kind::Proba => model.predict_proba(&features, rows)?,
        };
        crate::observability::predictions(&model.name, rows);
        // A newer version may answer in another type than the plan expected.
        let out = if out.data_type() == args.return_field.data_type() {
            out
        } else {
            cast(&out, args.return_field.data_type())?
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// `MODEL_VERSION('m')`: the version PREDICT uses now, to store beside a prediction.
#[derive(Debug)]
pub struct ModelVersionFn {
    registry: Arc<Registry>,
    signature: Signature,
}

impl PartialEq for ModelVersionFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.registry, &other.registry)
    }
}
impl Eq for ModelVersionFn {}
impl Hash for ModelVersionFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "model_version".hash(state);
    }
}

impl ScalarUDFImpl for ModelVersionFn {
    fn name(&self) -> &str {
        "model_version"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let name = match args.args.first() {
            Some(ColumnarValue::Scalar(s)) => Some(s.clone()),
            _ => None,
        };
        let model = model_argument("MODEL_VERSION", &self.registry, name.as_ref())?;
        Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(
            model.version as i64,
        ))))
    }
}

/// The scalar functions, bound to `registry`.
pub fn functions(registry: &Arc<Registry>) -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(Predict::new(registry.clone(), Kind::Predict)),
        ScalarUDF::new_from_impl(Predict::new(registry.clone(), Kind::Proba)),
        ScalarUDF::new_from_impl(ModelVersionFn {
            registry: registry.clone(),
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Stable),
        }),
    ]
}
