//! Catalog tables Brook never has a row in — it has no triggers, rules,
//! policies, publications, subscriptions, partitioned tables,
//! foreign servers, transforms, security labels or large objects —
//! served empty with PostgreSQL 15's columns and types.
//! datafusion-pg-catalog lacks some of them (`pg_transform`,
//! `pg_seclabels`) and types the array columns of others as text, so
//! pg_dump's `= ANY(partclass)`, `unnest(evttags)` and `prattrs::int2[]`
//! failed to plan even over no rows.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;

/// Each table with its columns as PostgreSQL's `pg_attribute` lists them.
const TABLES: &[(&str, &str)] = &[
    // No ALTER ROLE/DATABASE … SET: settings come from brook.toml.
    (
        "pg_db_role_setting",
        "setdatabase:oid setrole:oid setconfig:text[]",
    ),
    // Not empty: the overlay fills it (`acls::default_acls`); its columns
    // are kept here.
    (
        "pg_default_acl",
        "oid:oid defaclrole:oid defaclnamespace:oid defaclobjtype:char defaclacl:aclitem[]",
    ),
    (
        "pg_event_trigger",
        "oid:oid evtname:name evtevent:name evtowner:oid evtfoid:oid evtenabled:char evttags:text[]",
    ),
    (
        "pg_foreign_data_wrapper",
        "oid:oid fdwname:name fdwowner:oid fdwhandler:oid fdwvalidator:oid fdwacl:aclitem[] fdwoptions:text[]",
    ),
    (
        "pg_foreign_server",
        "oid:oid srvname:name srvowner:oid srvfdw:oid srvtype:text srvversion:text srvacl:aclitem[] srvoptions:text[]",
    ),
    (
        "pg_inherits",
        "inhrelid:oid inhparent:oid inhseqno:integer inhdetachpending:boolean",
    ),
    // No object has privileges yet, so none has initial ones: PostgreSQL's
    // rows here made pg_dump REVOKE them from Brook's catalog tables.
    (
        "pg_init_privs",
        "objoid:oid classoid:oid objsubid:integer privtype:char initprivs:aclitem[]",
    ),
    (
        "pg_largeobject_metadata",
        "oid:oid lomowner:oid lomacl:aclitem[]",
    ),
    (
        "pg_partitioned_table",
        "partrelid:oid partstrat:char partnatts:smallint partdefid:oid partattrs:int2vector partclass:oidvector partcollation:oidvector partexprs:pg_node_tree",
    ),
    (
        "pg_policy",
        "oid:oid polname:name polrelid:oid polcmd:char polpermissive:boolean polroles:oid[] polqual:pg_node_tree polwithcheck:pg_node_tree",
    ),
    (
        "pg_publication",
        "oid:oid pubname:name pubowner:oid puballtables:boolean pubinsert:boolean pubupdate:boolean pubdelete:boolean pubtruncate:boolean pubviaroot:boolean",
    ),
    (
        "pg_publication_namespace",
        "oid:oid pnpubid:oid pnnspid:oid",
    ),
    (
        "pg_publication_rel",
        "oid:oid prpubid:oid prrelid:oid prqual:pg_node_tree prattrs:int2vector",
    ),
    // Brook's views are not rules; datafusion-pg-catalog's rows are
    // PostgreSQL's system views' rules, which name relations Brook lacks.
    (
        "pg_rewrite",
        "oid:oid rulename:name ev_class:oid ev_type:char ev_enabled:char is_instead:boolean ev_qual:pg_node_tree ev_action:pg_node_tree",
    ),
    (
        "pg_seclabel",
        "objoid:oid classoid:oid objsubid:integer provider:text label:text",
    ),
    (
        "pg_seclabels",
        "objoid:oid classoid:oid objsubid:integer objtype:text objnamespace:oid objname:text provider:text label:text",
    ),
    (
        "pg_statistic_ext",
        "oid:oid stxrelid:oid stxname:name stxnamespace:oid stxowner:oid stxstattarget:integer stxkeys:int2vector stxkind:char[] stxexprs:pg_node_tree",
    ),
    (
        "pg_subscription",
        "oid:oid subdbid:oid subskiplsn:pg_lsn subname:name subowner:oid subenabled:boolean subbinary:boolean substream:boolean subtwophasestate:char subdisableonerr:boolean subconninfo:text subslotname:name subsynccommit:text subpublications:text[]",
    ),
    (
        "pg_transform",
        "oid:oid trftype:oid trflang:oid trffromsql:regproc trftosql:regproc",
    ),
    (
        "pg_trigger",
        "oid:oid tgrelid:oid tgparentid:oid tgname:name tgfoid:oid tgtype:smallint tgenabled:char tgisinternal:boolean tgconstrrelid:oid tgconstrindid:oid tgconstraint:oid tgdeferrable:boolean tginitdeferred:boolean tgnargs:smallint tgattr:int2vector tgargs:bytea tgqual:pg_node_tree tgoldtable:name tgnewtable:name",
    ),
];

/// The names of the tables served empty.
pub fn names() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|(name, _)| *name)
}

/// Table `name`, empty, if it is one of these.
pub fn table(name: &str) -> Option<Arc<dyn TableProvider>> {
    let (_, columns) = TABLES.iter().find(|(table, _)| *table == name)?;
    let schema = schema(columns);
    MemTable::try_new(schema, vec![vec![]])
        .ok()
        .map(|t| Arc::new(t) as Arc<dyn TableProvider>)
}

fn schema(columns: &str) -> SchemaRef {
    let fields: Vec<Field> = columns
        .split_whitespace()
        .filter_map(|column| column.split_once(':'))
        .map(|(name, pg_type)| Field::new(name, arrow_type(pg_type), true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// The Arrow type Brook sends each PostgreSQL type as (OIDs are `int4`, as
/// in the rest of Brook's `pg_catalog`; a `regproc` is its function name).
fn arrow_type(pg_type: &str) -> DataType {
    let list = |item: DataType| DataType::List(Arc::new(Field::new("item", item, true)));
    match pg_type {
        "oid" | "integer" => DataType::Int32,
        "smallint" => DataType::Int16,
        "boolean" => DataType::Boolean,
        "bytea" => DataType::Binary,
        "int2vector" => list(DataType::Int16),
        "oidvector" | "oid[]" => list(DataType::Int32),
        "text[]" | "aclitem[]" | "char[]" => list(DataType::Utf8),
        // name, text, char, regproc, pg_node_tree, pg_lsn
        _ => DataType::Utf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_columns_are_arrays_of_postgresql_element_types() {
        let policy = table("pg_policy").unwrap().schema();
        assert_eq!(
            policy.field_with_name("polroles").unwrap().data_type(),
            &DataType::List(Arc::new(Field::new("item", DataType::Int32, true)))
        );
        let partitions = table("pg_partitioned_table").unwrap().schema();
        assert!(matches!(
            partitions.field_with_name("partattrs").unwrap().data_type(),
            DataType::List(f) if f.data_type() == &DataType::Int16
        ));
        assert!(table("pg_class").is_none());
    }
}
