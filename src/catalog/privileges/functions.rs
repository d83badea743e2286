//! `has_table_privilege`, `has_schema_privilege` and
//! `has_database_privilege`: what applications ask
//! before they show a table or a button (pgAdmin, DBeaver, Metabase's
//! sync), answered from the same grants the checks enforce.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, Volatility};
use datafusion::prelude::SessionContext;

use super::{Privilege, Privileges};
use crate::catalog::names::{QualifiedName, split_text_name};
use crate::catalog::settings::{self, SessionFunction, with_session};
use crate::error::{BrookError, external};

/// Register the functions, answering from `privileges`.
pub fn register(ctx: &SessionContext, privileges: Privileges) {
    for udf in [
        function("has_table_privilege", privileges.clone(), Object::Table),
        function("has_schema_privilege", privileges.clone(), Object::Schema),
        function("has_database_privilege", privileges, Object::Database),
    ] {
        crate::catalog::pg_functions::replace_udf(ctx, udf);
    }
}

#[derive(Clone, Copy)]
enum Object {
    Table,
    Schema,
    Database,
}

fn function(name: &'static str, privileges: Privileges, object: Object) -> ScalarUDF {
    let body: SessionFunction =
        Arc::new(move |args, config, rows| answer(&privileges, object, args, config, rows));
    let text = DataType::Utf8;
    with_session(
        name,
        Signature::one_of(
            vec![
                datafusion::logical_expr::TypeSignature::Exact(vec![text.clone(), text.clone()]),
                datafusion::logical_expr::TypeSignature::Exact(vec![
                    text.clone(),
                    text.clone(),
                    text,
                ]),
            ],
            Volatility::Stable,
        ),
        DataType::Boolean,
        body,
    )
}

fn answer(
    privileges: &Privileges,
    object: Object,
    args: &[ColumnarValue],
    config: &ConfigOptions,
    rows: usize,
) -> Result<ColumnarValue> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let (users, objects, wanted) = match arrays.as_slice() {
        [objects, wanted] => (None, objects, wanted),
        [users, objects, wanted] => (Some(as_string_array(users)?), objects, wanted),
        _ => {
            return Err(DataFusionError::Plan(
                "has_*_privilege takes 2 or 3 arguments".into(),
            ));
        }
    };
    let objects = as_string_array(objects)?;
    let wanted = as_string_array(wanted)?;
    let me = settings::session_role(config);
    let path = settings::lookup_path(config);
    let rows = if scalar { 1 } else { rows.max(objects.len()) };
    let mut out = BooleanBuilder::with_capacity(rows);
    for i in 0..rows {
        let user = match users {
            Some(u) if u.is_null(i) => {
                out.append_null();
                continue;
            }
            Some(u) => u.value(i).to_string(),
            None => me.clone(),
        };
        if objects.is_null(i) || wanted.is_null(i) {
            out.append_null();
            continue;
        }
        if users.is_some() && !privileges.roles().exists(&user) && !privileges.roles().is_open() {
            return Err(external(BrookError::UndefinedObject(format!(
                "role \"{user}\" does not exist"
            ))));
        }
        let who = privileges.identity(&user);
        if let Object::Database = object {
            out.append_value(database_privilege(
                privileges,
                &who,
                objects.value(i),
                wanted.value(i),
            )?);
            continue;
        }
        let asked = parse_privileges(wanted.value(i), object)?;
        let held = match object {
            Object::Table => {
                let name = resolve_relation(privileges, objects.value(i), &path)?;
                asked.iter().any(|p| {
                    privileges
                        .has_relation_privilege(&who, &name, *p)
                        .unwrap_or(true)
                })
            }
            Object::Schema => {
                let schema = objects.value(i);
                let known = privileges.snapshot().schemas.contains_key(schema)
                    || schema == "pg_catalog"
                    || schema == "information_schema";
                if !known {
                    return Err(external(BrookError::UndefinedSchema(schema.to_string())));
                }
                asked.iter().any(|p| {
                    privileges
                        .has_schema_privilege(&who, schema, *p)
                        .unwrap_or(matches!(p, Privilege::Usage) || who.superuser)
                })
            }
            Object::Database => unreachable!("answered above"),
        };
        out.append_value(held);
    }
    let array: ArrayRef = Arc::new(out.finish());
    Ok(if scalar {
        ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&array, 0)?)
    } else {
        ColumnarValue::Array(array)
    })
}

/// `'SELECT, INSERT WITH GRANT OPTION'` → the privileges asked (any one of
/// them answers true, as in PostgreSQL).
fn parse_privileges(text: &str, object: Object) -> Result<Vec<Privilege>> {
    let kind = match object {
        Object::Table => super::ObjectKind::Relation,
        Object::Schema => super::ObjectKind::Schema,
        Object::Database => super::ObjectKind::Database,
    };
    text.split(',')
        .map(|word| {
            let word = word.trim();
            Privilege::from_keyword(&bare_privilege(word))
                .filter(|p| kind.privileges().contains(p))
                .ok_or_else(|| {
                    external(BrookError::InvalidParameter(format!(
                        "unrecognized privilege type: \"{word}\""
                    )))
                })
        })
        .collect()
}

/// A privilege word as asked (`select with grant option`), upper case,
/// without the grant option (holding the privilege answers, as it did).
fn bare_privilege(word: &str) -> String {
    word.trim()
        .to_ascii_uppercase()
        .trim_end_matches("WITH GRANT OPTION")
        .trim()
        .to_string()
}

/// `has_database_privilege(who, database, 'CREATE, CONNECT, …')`: CONNECT
/// and TEMPORARY every role holds (Brook refuses neither); CREATE and
/// CREATE MODEL as granted; 3D000 for another database's name.
fn database_privilege(
    privileges: &Privileges,
    who: &super::Identity,
    database: &str,
    wanted: &str,
) -> Result<bool> {
    if database != crate::catalog::DATABASE {
        return Err(external(BrookError::UndefinedDatabase(
            database.to_string(),
        )));
    }
    let acl = privileges.snapshot().database.clone();
    let (held, _) = acl.held(super::ObjectKind::Database, &who.oids);
    let mut any = false;
    for word in wanted.split(',') {
        any |= match bare_privilege(word).as_str() {
            "CONNECT" | "TEMP" | "TEMPORARY" => true,
            "CREATE" => who.superuser || held.contains(Privilege::Create),
            "CREATE MODEL" => who.superuser || held.contains(Privilege::CreateModel),
            _ => {
                return Err(external(BrookError::InvalidParameter(format!(
                    "unrecognized privilege type: \"{}\"",
                    word.trim()
                ))));
            }
        };
    }
    Ok(any)
}

/// A relation named in text (`'t'`, `'s.t'`, `'"Odd"'`), looked up along
/// the search path; 42P01 when no relation has the name.
fn resolve_relation(privileges: &Privileges, text: &str, path: &[String]) -> Result<QualifiedName> {
    let parts = split_text_name(text);
    let snapshot = privileges.snapshot();
    let found = match parts.as_slice() {
        [schema, name] => Some(QualifiedName {
            schema: schema.clone(),
            name: name.clone(),
        }),
        [name] => path
            .iter()
            .map(|schema| QualifiedName {
                schema: schema.clone(),
                name: name.clone(),
            })
            .find(|q| snapshot.relations.contains_key(q)),
        _ => None,
    };
    match found {
        Some(name) if snapshot.relations.contains_key(&name) => Ok(name),
        // The system catalogs, which everyone may read.
        Some(name) if is_system_schema(&name.schema) => Ok(name),
        None if parts.len() == 1 && parts[0].starts_with("pg_") => Ok(QualifiedName {
            schema: "pg_catalog".into(),
            name: parts[0].clone(),
        }),
        _ => Err(external(BrookError::UndefinedTable(text.to_string()))),
    }
}

fn is_system_schema(schema: &str) -> bool {
    matches!(schema, "pg_catalog" | "information_schema")
}
