//! Owners and access privileges in `pg_class` (`relowner`, `relacl`) and
//! `pg_namespace` (`nspowner`, `nspacl`), from the grants the checks
//! enforce (catalog::privileges): psql's `\dp`, `\dn+` and `\dt`'s Owner,
//! pg_dump's GRANT statements and pgAdmin's privilege tabs read these.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::common::cast::as_string_array;

use super::replace_column;
use crate::catalog::names::QualifiedName;
use crate::catalog::privileges::acl::BOOTSTRAP_OWNER;
use crate::catalog::privileges::{Acl, Snapshot};
use crate::catalog::roles::Roles;

fn texts(batch: &RecordBatch, name: &str) -> DfResult<Option<StringArray>> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let column = cast(column, &DataType::Utf8)?;
    Ok(Some(as_string_array(&column)?.clone()))
}

fn oids(batch: &RecordBatch, name: &str) -> DfResult<Option<Int32Array>> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let column = cast(column, &DataType::Int32)?;
    Ok(column.as_any().downcast_ref::<Int32Array>().cloned())
}

/// An ACL column of `data_type` (a text array, or its `{…}` text) holding
/// `acls`, NULL where the object has the default.
fn acl_column(data_type: &DataType, acls: &[Option<Vec<String>>]) -> DfResult<ArrayRef> {
    if matches!(data_type, DataType::List(_)) {
        let mut builder = ListBuilder::new(StringBuilder::new());
        for acl in acls {
            match acl {
                Some(items) => {
                    for item in items {
                        builder.values().append_value(item);
                    }
                    builder.append(true);
                }
                None => builder.append(false),
            }
        }
        return Ok(Arc::new(builder.finish()));
    }
    let text: StringArray = acls
        .iter()
        .map(|acl| acl.as_ref().map(|items| format!("{{{}}}", items.join(","))))
        .collect();
    Ok(Arc::new(text))
}

fn printed(acl: Option<&Acl>, roles: &Roles) -> Option<Vec<String>> {
    acl?.to_text(&|oid| roles.name_of(oid))
}

/// `pg_class` with each relation's owner and ACL; `namespaces` (pg_namespace's
/// rows) names the schemas of `relnamespace`.
pub fn relations(
    class: RecordBatch,
    namespaces: &RecordBatch,
    snapshot: &Snapshot,
    roles: &Roles,
) -> DfResult<RecordBatch> {
    let (Some(names), Some(spaces)) = (texts(&class, "relname")?, oids(&class, "relnamespace")?)
    else {
        return Ok(class);
    };
    let schema_names: HashMap<i32, String> =
        match (oids(namespaces, "oid")?, texts(namespaces, "nspname")?) {
            (Some(o), Some(n)) => o
                .iter()
                .zip(n.iter())
                .filter_map(|(o, n)| Some((o?, n?.to_string())))
                .collect(),
            _ => HashMap::new(),
        };
    let qualified: Vec<Option<QualifiedName>> = (0..class.num_rows())
        .map(|i| {
            let schema = schema_names.get(&spaces.value(i))?;
            Some(QualifiedName {
                schema: schema.clone(),
                name: names.value(i).to_string(),
            })
        })
        .collect();
    let acls: Vec<Option<&Acl>> = qualified
        .iter()
        .map(|name| snapshot.relations.get(name.as_ref()?).map(|(_, acl)| acl))
        .collect();
    let class = with_owner_and_acl(class, "relowner", "relacl", &acls, roles)?;
    // Row-level security: `ENABLE` and `FORCE`.
    let security = |forced: bool| -> BooleanArray {
        qualified
            .iter()
            .map(|name| {
                let policies = name.as_ref().and_then(|n| snapshot.row_security.get(n));
                Some(policies.is_some_and(|p| if forced { p.forced } else { p.enabled }))
            })
            .collect()
    };
    let class = replace_column(class, "relrowsecurity", |_| Ok(Arc::new(security(false))))?;
    replace_column(class, "relforcerowsecurity", |_| {
        Ok(Arc::new(security(true)))
    })
}

/// `pg_namespace` with each schema's owner and ACL.
pub fn namespaces(
    namespaces: RecordBatch,
    snapshot: &Snapshot,
    roles: &Roles,
) -> DfResult<RecordBatch> {
    let Some(names) = texts(&namespaces, "nspname")? else {
        return Ok(namespaces);
    };
    let acls: Vec<Option<&Acl>> = (0..namespaces.num_rows())
        .map(|i| snapshot.schemas.get(names.value(i)))
        .collect();
    with_owner_and_acl(namespaces, "nspowner", "nspacl", &acls, roles)
}

/// `pg_database` with Brook's database's owner and ACL (`GRANT CREATE |
/// CREATE MODEL ON DATABASE`), what psql's `\l` shows.
pub fn databases(
    databases: RecordBatch,
    snapshot: &Snapshot,
    roles: &Roles,
) -> DfResult<RecordBatch> {
    let Some(names) = texts(&databases, "datname")? else {
        return Ok(databases);
    };
    let acls: Vec<Option<&Acl>> = (0..databases.num_rows())
        .map(|i| (names.value(i) == crate::catalog::DATABASE).then_some(&snapshot.database))
        .collect();
    with_owner_and_acl(databases, "datdba", "datacl", &acls, roles)
}

/// `batch` with its owner column (`owner_col`) and ACL column (`acl_col`)
/// filled from `acls`, one per row; a row with no ACL belongs to the
/// bootstrap superuser and has the default privileges.
fn with_owner_and_acl(
    batch: RecordBatch,
    owner_col: &str,
    acl_col: &str,
    acls: &[Option<&Acl>],
    roles: &Roles,
) -> DfResult<RecordBatch> {
    let owners: Int32Array = acls
        .iter()
        .map(|acl| Some(acl.map_or(BOOTSTRAP_OWNER, |a| a.owner)))
        .collect();
    let batch = replace_column(batch, owner_col, |column| {
        Ok(cast(&(Arc::new(owners) as ArrayRef), column.data_type())?)
    })?;
    let printed: Vec<Option<Vec<String>>> = acls.iter().map(|a| printed(*a, roles)).collect();
    replace_column(batch, acl_col, |column| {
        acl_column(column.data_type(), &printed)
    })
}

/// `pg_default_acl`'s rows (of `schema`): one per role and schema (OID 0:
/// every schema) whose `ALTER DEFAULT PRIVILEGES` grant something, the
/// ACL shown as PostgreSQL shows it (for every schema, the owner's own
/// privileges first).
pub fn default_acls(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    namespaces: &RecordBatch,
    snapshot: &Snapshot,
    roles: &Roles,
) -> DfResult<RecordBatch> {
    let schema_oids: HashMap<String, i32> =
        match (oids(namespaces, "oid")?, texts(namespaces, "nspname")?) {
            (Some(o), Some(n)) => o
                .iter()
                .zip(n.iter())
                .filter_map(|(o, n)| Some((n?.to_string(), o?)))
                .collect(),
            _ => HashMap::new(),
        };
    // Numbered after the catalog's own OIDs, stable for one snapshot.
    const FIRST_OID: i32 = 900_000;
    let mut oid = vec![];
    let mut role = vec![];
    let mut namespace = vec![];
    let mut acls = vec![];
    for (i, default) in snapshot.default_acls.iter().enumerate() {
        oid.push(FIRST_OID + i as i32);
        role.push(default.role);
        namespace.push(
            default
                .schema
                .as_ref()
                .map(|s| schema_oids.get(s).copied().unwrap_or(0))
                .unwrap_or(0),
        );
        acls.push(printed(Some(&default.shown()), roles).or(Some(vec![])));
    }
    let rows = oid.len();
    let mut columns: Vec<ArrayRef> = vec![];
    for field in schema.fields() {
        let column: ArrayRef = match field.name().as_str() {
            "oid" => Arc::new(Int32Array::from(oid.clone())),
            "defaclrole" => Arc::new(Int32Array::from(role.clone())),
            "defaclnamespace" => Arc::new(Int32Array::from(namespace.clone())),
            "defaclobjtype" => Arc::new(StringArray::from(vec!["r"; rows])),
            "defaclacl" => acl_column(field.data_type(), &acls)?,
            _ => datafusion::arrow::array::new_null_array(field.data_type(), rows),
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
