//! The PostgreSQL settings a session has changed, where the functions of
//! its queries read them.
//!
//! `current_setting('TimeZone')` must answer what this session SET, not the
//! server's default; a scalar function sees only the `ConfigOptions` its
//! query runs with, so the session's values travel there, as a DataFusion
//! config extension of the session's own context (server::session_settings
//! keeps it up to date after every SET, RESET and transaction end).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::cast::{as_boolean_array, as_string_array};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ConfigOptions, ExtensionOptions};
use datafusion::error::Result as DfResult;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::error::BrookError;

use super::pg_functions;

/// The settings the session changed, and where its search path leads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSettings {
    /// Setting name (lower case) → value.
    pub values: BTreeMap<String, String>,
    /// `current_schema()`: the first schema of the path that exists.
    pub current_schema: Option<String>,
    /// The path's schemas that exist, in order (`pg_catalog` apart).
    pub path: Vec<String>,
    /// Each `datafusion.*` option the session set, with the value it had
    /// before: what a ROLLBACK or RESET of the SET puts back.
    pub replaced_options: BTreeMap<String, Option<String>>,
}

/// The session's settings in `config`, if it has any.
pub fn of(config: &ConfigOptions) -> Option<&SessionSettings> {
    config.extensions.get::<SessionSettings>()
}

/// The schemas a bare name is looked up in, in order, as a query running
/// with `config` sees them (`pg_catalog` first, as PostgreSQL searches it).
pub fn lookup_path(config: &ConfigOptions) -> Vec<String> {
    let mut path = vec!["pg_catalog".to_string()];
    match of(config) {
        Some(s) => path.extend(s.path.iter().cloned()),
        None => path.push(super::names::DEFAULT_SCHEMA.to_string()),
    }
    path
}

impl ExtensionOptions for SessionSettings {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    /// Only Brook's SET handling writes here; `SET brook_session.x` from SQL
    /// is a custom placeholder and never reaches DataFusion.
    fn set(&mut self, key: &str, _value: &str) -> Result<()> {
        Err(DataFusionError::Configuration(format!(
            "\"{key}\" is not a setting"
        )))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![]
    }
}

impl ConfigExtension for SessionSettings {
    const PREFIX: &'static str = "brook_session";
}

/// The role the session running with `config` logged in as (`brook`, the
/// default role, for a context that is no session's): whose rights and
/// whose view of others' work apply.
pub fn session_role(config: &ConfigOptions) -> String {
    if let Some(role) = of(config)
        .and_then(|s| s.values.get("role"))
        .filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("none"))
    {
        return role.clone();
    }
    login_role(config)
}

/// The role the session logged in as (`session_user`), whatever SET ROLE
/// made its current role.
pub fn login_role(config: &ConfigOptions) -> String {
    value(config, "session_authorization")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "brook".to_string())
}

/// A setting's value for the query running with `config`: the session's,
/// else the server's. `None` for a name PostgreSQL would not recognise.
pub fn value(config: &ConfigOptions, name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    if let Some(set) = of(config).and_then(|s| s.values.get(&name)) {
        return Some(set.clone());
    }
    pg_functions::setting(&name).map(str::to_string)
}

/// The schemas of a `search_path` value, in order, as names (`"$user"`
/// and quotes handled as PostgreSQL does; Brook creates no schema per user,
/// so `$user` names one only if the user made it).
pub fn search_path_schemas(path: &str, user: &str) -> Vec<String> {
    path.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s == "\"$user\"" || s == "$user" {
                user.to_string()
            } else if let Some(quoted) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                quoted.replace("\"\"", "\"")
            } else {
                s.to_lowercase()
            }
        })
        .collect()
}

pub type SessionFunction =
    Arc<dyn Fn(&[ColumnarValue], &ConfigOptions, usize) -> DfResult<ColumnarValue> + Send + Sync>;

/// A function whose answer depends on the calling session's settings,
/// which a scalar function reads from the options its query runs with.
pub struct WithSession {
    name: String,
    signature: Signature,
    returns: DataType,
    function: SessionFunction,
}

impl std::fmt::Debug for WithSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithSession")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for WithSession {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.signature == other.signature
    }
}

impl Eq for WithSession {}

impl std::hash::Hash for WithSession {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for WithSession {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        (self.function)(&args.args, &args.config_options, args.number_rows)
    }
}

pub fn with_session(
    name: &str,
    signature: Signature,
    returns: DataType,
    function: SessionFunction,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(WithSession {
        name: name.to_string(),
        signature,
        returns,
        function,
    })
}

/// `current_setting(name [, missing_ok])`: the value this session sees.
fn current_setting(
    args: &[ColumnarValue],
    config: &ConfigOptions,
    _rows: usize,
) -> Result<ColumnarValue> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let Some(names) = arrays.first() else {
        return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
    };
    let names = as_string_array(names)?;
    let missing_ok = match arrays.get(1) {
        Some(flags) => Some(as_boolean_array(flags)?.clone()),
        None => None,
    };
    let values = (0..names.len())
        .map(|i| {
            if names.is_null(i) {
                return Ok(None);
            }
            let name = names.value(i);
            match value(config, name) {
                Some(v) => Ok(Some(v)),
                None if missing_ok
                    .as_ref()
                    .is_some_and(|m| m.is_valid(i) && m.value(i)) =>
                {
                    Ok(None)
                }
                None => Err(DataFusionError::from(BrookError::UndefinedObject(format!(
                    "unrecognized configuration parameter \"{name}\""
                )))),
            }
        })
        .collect::<Result<StringArray>>()?;
    if scalar {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &values, 0,
        )?));
    }
    Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
}

/// `current_setting`, `current_schema()` and `current_schemas(implicit)`,
/// answered for the calling session.
pub fn udfs() -> Vec<ScalarUDF> {
    let current_schema = |_: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let schema = match of(config) {
            Some(s) => s.current_schema.clone(),
            None => Some(super::names::DEFAULT_SCHEMA.to_string()),
        };
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(schema)))
    };
    let current_schemas = |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let implicit = match args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(b))) => b.unwrap_or(false),
            _ => false,
        };
        let mut schemas = if implicit {
            vec!["pg_catalog".to_string()]
        } else {
            vec![]
        };
        match of(config) {
            Some(s) => schemas.extend(s.path.iter().cloned()),
            None => schemas.push(super::names::DEFAULT_SCHEMA.to_string()),
        }
        let values = StringArray::from(schemas);
        Ok(ColumnarValue::Scalar(ScalarValue::List(Arc::new(
            datafusion::common::utils::SingleRowListArrayBuilder::new(Arc::new(values))
                .build_list_array(),
        ))))
    };
    // The current role (SET ROLE's, else the login's) and the role the
    // session logged in as (PostgreSQL's `session_authorization`).
    // datafusion-pg-catalog answered "postgres" for everyone.
    let current = |_: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            session_role(config),
        ))))
    };
    let login = |_: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(login_role(
            config,
        )))))
    };
    let mut functions: Vec<ScalarUDF> = ["current_user", "current_role", "user"]
        .into_iter()
        .map(|name| {
            with_session(
                name,
                Signature::exact(vec![], Volatility::Stable),
                DataType::Utf8,
                Arc::new(current),
            )
        })
        .collect();
    functions.push(with_session(
        "session_user",
        Signature::exact(vec![], Volatility::Stable),
        DataType::Utf8,
        Arc::new(login),
    ));
    functions.extend([
        with_session(
            "current_setting",
            Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
                ],
                Volatility::Stable,
            ),
            DataType::Utf8,
            Arc::new(current_setting),
        ),
        with_session(
            "current_schema",
            Signature::exact(vec![], Volatility::Stable),
            DataType::Utf8,
            Arc::new(current_schema),
        ),
        with_session(
            "current_schemas",
            Signature::exact(vec![DataType::Boolean], Volatility::Stable),
            DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new(
                "item",
                DataType::Utf8,
                true,
            ))),
            Arc::new(current_schemas),
        ),
    ]);
    functions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_value_wins_over_the_servers() {
        let mut config = ConfigOptions::new();
        assert_eq!(value(&config, "TimeZone").as_deref(), Some("UTC"));
        assert_eq!(value(&config, "no_such_setting"), None);
        let mut set = SessionSettings::default();
        set.values.insert("timezone".into(), "Asia/Tokyo".into());
        set.values.insert("myapp.tenant".into(), "7".into());
        config.extensions.insert(set);
        assert_eq!(value(&config, "TimeZone").as_deref(), Some("Asia/Tokyo"));
        assert_eq!(value(&config, "myapp.tenant").as_deref(), Some("7"));
    }

    #[test]
    fn search_paths_read_as_postgresql_reads_them() {
        assert_eq!(
            search_path_schemas("\"$user\", public", "ann"),
            ["ann", "public"]
        );
        assert_eq!(
            search_path_schemas("Sales, \"Mixed Case\"", "ann"),
            ["sales", "Mixed Case"]
        );
        assert!(search_path_schemas("", "ann").is_empty());
    }
}
