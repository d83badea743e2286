//! `ALTER TABLE` and `ALTER VIEW … RENAME TO`: the schema changes migration
//! tools emit (Alembic's `add_column`, dbt's `rename to`, pg_dump's output).
//!
//! A table change is made the way PostgreSQL makes `ALTER COLUMN … TYPE`:
//! the rows are written again, under the new declaration, into new files,
//! in one transaction with the catalog change (the session's open one, or
//! one of the statement's own). Until COMMIT nobody else sees any of it; a
//! crash leaves the old table whole or the new one whole. deltalake 1.1
//! does not write column-mapped tables (delta-rs #930), which would make a
//! rename or a drop a change of metadata only; until it does, every change
//! of columns costs a copy of the table (the statement reads it into
//! memory, as `CREATE TABLE AS` does).
//!
//! Outside a block the statement keeps the table's writers out from its
//! snapshot to its COMMIT, as PostgreSQL's exclusive lock does, so the copy
//! is the table's last state. Inside a block it cannot hold them across
//! statements: a write another session commits between the copy and the
//! COMMIT would be lost with the old files, so that COMMIT fails with 40001
//! instead. A writer still waiting for the old table when it goes is
//! refused with 40001 (`storage::table`, `ensure_live`). Views reading the
//! table are planned again over the new one; a view the change breaks
//! stops it (2BP01), unless `DROP COLUMN … CASCADE` drops the view too.

use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, AlterColumnOperation, AlterTableOperation as Op, RenameTableNameKind, TableConstraint,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use std::ops::ControlFlow;

use super::create_table;
use super::outcome::{Notices, Outcome};
use crate::catalog::grants::AclTarget;
use crate::catalog::names::{normalize, qualify};
use crate::catalog::pg_format::quote_ident;
use crate::catalog::{ColumnDef, IndexDef, QualifiedName, Replacement, TableRules, UniqueDef};
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;
use crate::storage::types::column_type;

/// An `ALTER TABLE` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterTable(pub Box<ast::AlterTable>);

/// `ALTER VIEW [IF EXISTS] name RENAME TO new` (sqlparser reads only
/// `ALTER VIEW … AS`, which PostgreSQL does not have).
#[derive(Debug, Clone, PartialEq)]
pub struct AlterView {
    pub name: ast::ObjectName,
    pub if_exists: bool,
    pub rename_to: Option<String>,
    /// `OWNER TO role`.
    pub owner_to: Option<String>,
}

/// Parse `ALTER VIEW …` from its first word.
pub fn parse_alter_view(parser: &mut Parser) -> std::result::Result<AlterView, ParserError> {
    if !super::parser::parse_words(parser, &["ALTER", "VIEW"]) {
        return parser.expected("ALTER VIEW", parser.peek_token());
    }
    let if_exists = super::parser::parse_words(parser, &["IF", "EXISTS"]);
    let name = parser.parse_object_name(false)?;
    if super::parser::parse_words(parser, &["RENAME", "TO"]) {
        let new = super::parser::parse_name(parser)?;
        return Ok(AlterView {
            name,
            if_exists,
            rename_to: Some(new),
            owner_to: None,
        });
    }
    if super::parser::parse_words(parser, &["OWNER", "TO"]) {
        let owner = parser.parse_identifier()?;
        return Ok(AlterView {
            name,
            if_exists,
            rename_to: None,
            owner_to: Some(normalize(&owner)),
        });
    }
    parser.expected("RENAME TO or OWNER TO", parser.peek_token())
}

/// One column of the table being made: its declaration, the SQL that
/// computes it from a row of the old table, and the old column it is.
#[derive(Debug, Clone)]
struct Column {
    def: ColumnDef,
    source: String,
    old: Option<String>,
}

/// The table an `ALTER TABLE`'s operations describe.
#[derive(Debug)]
struct Altered {
    old: QualifiedName,
    name: QualifiedName,
    columns: Vec<Column>,
    rules: TableRules,
    /// Anything to do beyond `OWNER TO`.
    changed: bool,
    /// Columns dropped, for the dependent views' error.
    dropped: Vec<String>,
    /// `DROP COLUMN … CASCADE`: views it breaks are dropped.
    cascade: bool,
}

impl Altered {
    fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.def.name == column)
    }

    fn column(&self, column: &str) -> Result<usize> {
        self.position(column)
            .ok_or_else(|| BrookError::UndefinedColumn {
                table: self.name.name.clone(),
                column: column.to_string(),
            })
    }

    fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.def.name.clone()).collect()
    }

    /// Apply one operation of the statement.
    fn apply(&mut self, op: &Op, notices: &Notices) -> Result<()> {
        let table = self.name.name.clone();
        match op {
            // Made after the table's own changes (super::policy).
            Op::OwnerTo { .. } => return Ok(()),
            op if super::policy::is_row_security(op) => return Ok(()),
            Op::RenameTable { table_name } => {
                let (RenameTableNameKind::To(new) | RenameTableNameKind::As(new)) = table_name;
                let [part] = new.0.as_slice() else {
                    return Err(BrookError::Syntax(format!(
                        "syntax error at or near \".\": RENAME TO takes a name without a schema ({new})"
                    )));
                };
                let ident = part
                    .as_ident()
                    .ok_or_else(|| BrookError::Syntax(format!("invalid name {new}")))?;
                self.name = QualifiedName {
                    schema: self.name.schema.clone(),
                    name: normalize(ident),
                };
            }
            Op::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let (old, new) = (normalize(old_column_name), normalize(new_column_name));
                let at = self
                    .position(&old)
                    .ok_or_else(|| BrookError::UndefinedColumnName(old.clone()))?;
                if self.position(&new).is_some() {
                    return Err(BrookError::DuplicateColumn { table, column: new });
                }
                self.columns[at].def.name = new.clone();
                rename_in(&mut self.rules, &old, &new);
            }
            Op::AddColumn {
                if_not_exists,
                column_def,
                column_position,
                ..
            } => {
                if column_position.is_some() {
                    return Err(BrookError::Unsupported(
                        "FIRST and AFTER in ADD COLUMN".into(),
                    ));
                }
                let name = normalize(&column_def.name);
                if self.position(&name).is_some() {
                    if *if_not_exists {
                        notices.send(format!(
                            "column \"{name}\" of relation \"{table}\" already exists, skipping"
                        ));
                        return Ok(());
                    }
                    return Err(BrookError::DuplicateColumn {
                        table,
                        column: name,
                    });
                }
                let (def, rules) = create_table::declare_added_column(column_def, &self.name)?;
                self.add_rules(rules)?;
                let source = match &def.default {
                    Some(default) => format!("CAST(({default}) AS {})", def.pg_type),
                    None => format!("CAST(NULL AS {})", def.pg_type),
                };
                self.columns.push(Column {
                    def,
                    source,
                    old: None,
                });
            }
            Op::DropColumn {
                column_names,
                if_exists,
                drop_behavior,
                ..
            } => {
                self.cascade |= matches!(drop_behavior, Some(ast::DropBehavior::Cascade));
                for ident in column_names {
                    let name = normalize(ident);
                    let Some(at) = self.position(&name) else {
                        if *if_exists {
                            notices.send(format!(
                                "column \"{name}\" of relation \"{table}\" does not exist, skipping"
                            ));
                            continue;
                        }
                        return Err(BrookError::UndefinedColumn {
                            table,
                            column: name,
                        });
                    };
                    drop_policies_on(&mut self.rules, &table, &name, self.cascade, notices)?;
                    self.columns.remove(at);
                    // PostgreSQL drops the keys and checks over the column with it.
                    if self.rules.primary_key.contains(&name) {
                        self.rules.primary_key.clear();
                    }
                    self.rules.unique.retain(|u| !u.columns.contains(&name));
                    self.rules.indexes.retain(|i| !i.columns.contains(&name));
                    self.rules
                        .checks
                        .retain(|c| !expr_columns(&c.expr).contains(&name));
                    self.dropped.push(name);
                }
                if self.columns.is_empty() {
                    return Err(BrookError::Unsupported(
                        "dropping every column: a table with no columns".into(),
                    ));
                }
            }
            Op::AlterColumn { column_name, op } => {
                let name = normalize(column_name);
                let at = self.column(&name)?;
                self.alter_column(at, op)?;
            }
            Op::AddConstraint { constraint, .. } => self.add_constraint(constraint)?,
            Op::DropConstraint {
                if_exists, name, ..
            } => {
                let name = normalize(name);
                let pkey = format!("{}_pkey", self.old.name);
                let before = self.rules.unique.len() + self.rules.checks.len();
                self.rules.unique.retain(|u| u.name != name);
                self.rules.checks.retain(|c| c.name != name);
                let dropped_key = name == pkey && !self.rules.primary_key.is_empty();
                if dropped_key {
                    self.rules.primary_key.clear();
                }
                if !dropped_key && before == self.rules.unique.len() + self.rules.checks.len() {
                    let message =
                        format!("constraint \"{name}\" of relation \"{table}\" does not exist");
                    if *if_exists {
                        notices.send(format!("{message}, skipping"));
                        return Ok(());
                    }
                    return Err(BrookError::UndefinedObject(message));
                }
            }
            Op::RenameConstraint { old_name, new_name } => {
                let (old, new) = (normalize(old_name), normalize(new_name));
                let taken = self.rules.unique.iter().any(|u| u.name == new)
                    || self.rules.checks.iter().any(|c| c.name == new);
                if taken {
                    return Err(BrookError::DuplicateTable(new));
                }
                let mut found = false;
                for u in self.rules.unique.iter_mut().filter(|u| u.name == old) {
                    u.name = new.clone();
                    found = true;
                }
                for c in self.rules.checks.iter_mut().filter(|c| c.name == old) {
                    c.name = new.clone();
                    found = true;
                }
                if !found {
                    return Err(BrookError::UndefinedObject(format!(
                        "constraint \"{old}\" for table \"{table}\" does not exist"
                    )));
                }
            }
            other => {
                return Err(BrookError::Unsupported(format!("ALTER TABLE … {other}")));
            }
        }
        self.changed = true;
        Ok(())
    }

    fn alter_column(&mut self, at: usize, op: &AlterColumnOperation) -> Result<()> {
        let column = &mut self.columns[at];
        let name = column.def.name.clone();
        match op {
            AlterColumnOperation::SetNotNull => column.def.nullable = false,
            AlterColumnOperation::DropNotNull => {
                if self.rules.primary_key.contains(&name) {
                    return Err(BrookError::InvalidTableDefinition(format!(
                        "column \"{name}\" is in a primary key"
                    )));
                }
                if column.def.always_identity {
                    return Err(BrookError::InvalidTableDefinition(format!(
                        "column \"{name}\" of relation \"{}\" is an identity column",
                        self.name.name
                    )));
                }
                column.def.nullable = true;
            }
            AlterColumnOperation::SetDefault { value } => {
                column.def.default = Some(value.to_string());
            }
            AlterColumnOperation::DropDefault => column.def.default = None,
            AlterColumnOperation::SetDataType {
                data_type, using, ..
            } => {
                let spelled = data_type.to_string().to_ascii_lowercase();
                let ty = column_type(&spelled)?;
                create_table::refuse_blank_padded(&ty.pg_name)?;
                column.source = match using {
                    Some(using) => format!("CAST(({using}) AS {data_type})"),
                    None => format!("CAST(({}) AS {data_type})", column.source),
                };
                column.def.pg_type = ty.pg_name;
            }
            AlterColumnOperation::AddGenerated { .. } => {
                return Err(BrookError::Unsupported(
                    "ALTER COLUMN … ADD GENERATED AS IDENTITY".into(),
                ));
            }
        }
        Ok(())
    }

    fn add_constraint(&mut self, constraint: &TableConstraint) -> Result<()> {
        let names = self.names();
        let rules = create_table::declare_constraint(constraint, &self.name, &names, &self.rules)?;
        self.add_rules(rules)
    }

    /// Take in the keys and checks an added column or constraint declares.
    fn add_rules(&mut self, rules: TableRules) -> Result<()> {
        if !rules.primary_key.is_empty() {
            if !self.rules.primary_key.is_empty() {
                return Err(BrookError::InvalidTableDefinition(format!(
                    "multiple primary keys for table \"{}\" are not allowed",
                    self.name.name
                )));
            }
            for key in &rules.primary_key {
                if let Some(at) = self.position(key) {
                    self.columns[at].def.nullable = false;
                }
            }
            self.rules.primary_key = rules.primary_key;
        }
        for unique in rules.unique {
            if self.rules.unique.iter().any(|u| u.name == unique.name) {
                return Err(BrookError::DuplicateTable(unique.name));
            }
            self.rules.unique.push(unique);
        }
        for check in rules.checks {
            if self.rules.checks.iter().any(|c| c.name == check.name) {
                return Err(BrookError::DuplicateObject(format!(
                    "constraint \"{}\" for relation \"{}\" already exists",
                    check.name, self.name.name
                )));
            }
            self.rules.checks.push(check);
        }
        Ok(())
    }

    /// The query that computes the new table's rows from the old table's.
    fn copy_query(&self) -> String {
        let items: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{} AS {}", c.source, quote_ident(&c.def.name)))
            .collect();
        format!(
            "SELECT {} FROM {}.{}",
            items.join(", "),
            quote_ident(&self.old.schema),
            quote_ident(&self.old.name)
        )
    }
}

/// Rename column `old` to `new` in the keys and the checks' conditions.
fn rename_in(rules: &mut TableRules, old: &str, new: &str) {
    for key in rules
        .primary_key
        .iter_mut()
        .chain(rules.unique.iter_mut().flat_map(|u| u.columns.iter_mut()))
        .chain(rules.indexes.iter_mut().flat_map(|i| i.columns.iter_mut()))
    {
        if key == old {
            *key = new.to_string();
        }
    }
    for check in &mut rules.checks {
        if let Some(renamed) = rename_column_in_expr(&check.expr, old, new) {
            check.expr = renamed;
        }
    }
    // Policies follow the column, as PostgreSQL's (kept parsed) do.
    for policy in &mut rules.row_security.policies {
        for expr in policy.using.iter_mut().chain(policy.with_check.iter_mut()) {
            if let Some(renamed) = rename_column_in_expr(expr, old, new) {
                *expr = renamed;
            }
        }
    }
}

/// The policies of `rules` that read column `column`: with CASCADE they
/// go with it, else the drop is refused as PostgreSQL refuses it.
fn drop_policies_on(
    rules: &mut TableRules,
    table: &str,
    column: &str,
    cascade: bool,
    notices: &Notices,
) -> Result<()> {
    let reads = |p: &crate::catalog::privileges::row_security::Policy| {
        p.using
            .iter()
            .chain(p.with_check.iter())
            .any(|e| expr_columns(e).iter().any(|c| c == column))
    };
    let dependents: Vec<String> = rules
        .row_security
        .policies
        .iter()
        .filter(|p| reads(p))
        .map(|p| p.name.clone())
        .collect();
    if dependents.is_empty() {
        return Ok(());
    }
    if !cascade {
        return Err(BrookError::ViewDepends {
            message: format!(
                "cannot drop column {column} of table {table} because other objects depend on it"
            ),
            detail: dependents
                .iter()
                .map(|p| {
                    format!(
                        "policy {p} on table {table} depends on column {column} of table {table}"
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    for p in &dependents {
        notices.send(format!("drop cascades to policy {p} on table {table}"));
    }
    rules
        .row_security
        .policies
        .retain(|p| !dependents.contains(&p.name));
    Ok(())
}

fn parse_expr(sql: &str) -> Option<ast::Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

/// The columns an expression (a CHECK condition) names.
fn expr_columns(sql: &str) -> Vec<String> {
    let mut named = Vec::new();
    if let Some(expr) = parse_expr(sql) {
        let _ = ast::visit_expressions(&expr, |e| {
            match e {
                ast::Expr::Identifier(ident) => named.push(normalize(ident)),
                ast::Expr::CompoundIdentifier(parts) => {
                    if let Some(last) = parts.last() {
                        named.push(normalize(last));
                    }
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }
    named
}

/// `sql` with column `old` called `new`; `None` if it does not parse.
fn rename_column_in_expr(sql: &str, old: &str, new: &str) -> Option<String> {
    let mut expr = parse_expr(sql)?;
    let _ = ast::visit_expressions_mut(&mut expr, |e| {
        if let ast::Expr::Identifier(ident) = e
            && normalize(ident) == old
        {
            *ident = ast::Ident::with_quote('"', new);
        }
        ControlFlow::<()>::Continue(())
    });
    Some(expr.to_string())
}

/// Run `work` in `session`'s open transaction, or, outside a block, in a
/// transaction of its own that commits when it succeeds.
pub(super) async fn in_transaction<F, Fut>(
    engine: &Engine,
    ctx: &SessionContext,
    session: Option<&SessionTransaction>,
    work: F,
) -> Result<()>
where
    F: FnOnce(Arc<SessionTransaction>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    if let Some(open) = SessionTransaction::open_in(ctx) {
        debug_assert!(session.is_some());
        return work(open).await;
    }
    let slot = {
        let state = ctx.state_ref();
        let state = state.read();
        SessionTransaction::of(state.config())
    }
    .ok_or_else(|| BrookError::Internal("a session without a transaction slot".into()))?;
    slot.begin();
    slot.start_statement(|| engine.catalog.all_tables());
    match work(slot.clone()).await {
        Ok(()) => engine.commit(&slot).await,
        Err(e) => {
            slot.abort();
            Err(e)
        }
    }
}

/// One change to a table: an `ALTER TABLE` operation, or what `CREATE
/// INDEX` and `DROP INDEX` do to the indexes recorded with it.
#[derive(Debug, Clone)]
pub(super) enum Step {
    Alter(Box<Op>),
    AddIndex(IndexDef),
    /// `CREATE UNIQUE INDEX`: a UNIQUE constraint under the index's name.
    AddUnique(UniqueDef),
    DropIndex(String),
}

impl AlterTable {
    /// Make the change (in `session`'s open transaction, if there is one).
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
        notices: &Notices,
    ) -> Result<Outcome> {
        let alter = *self.0;
        if alter.table_type.is_some() || alter.location.is_some() || alter.on_cluster.is_some() {
            return Err(BrookError::Unsupported(format!("{alter}")));
        }
        let name = qualify(&alter.name)?;
        let who = super::authorize::identity(engine, ctx);
        let owners: Vec<String> = alter
            .operations
            .iter()
            .filter_map(|op| match op {
                Op::OwnerTo { new_owner } => Some(super::grant::owner_name(new_owner, &who)),
                _ => None,
            })
            .collect();
        let row_security: Vec<Op> = alter
            .operations
            .iter()
            .filter(|op| super::policy::is_row_security(op))
            .cloned()
            .collect();
        if engine.catalog.is_view_for(session, &name).await {
            alter_view_as_table(engine, ctx, session, &name, &alter.operations).await?;
        } else {
            let steps = alter
                .operations
                .into_iter()
                .map(|op| Step::Alter(Box::new(op)))
                .collect();
            change_table(engine, ctx, session, notices, &name, alter.if_exists, steps).await?;
        }
        // After a RENAME in the same statement, the object has its new name.
        let now = engine
            .catalog
            .acl_for(
                session,
                &AclTarget::Relation {
                    relation: name.clone(),
                },
            )
            .await
            .map(|_| name.clone());
        if let (false, Ok(relation)) = (row_security.is_empty(), &now) {
            super::policy::set_row_security(engine, ctx, session, relation.clone(), &row_security)
                .await?;
        }
        if let (Some(owner), Ok(relation)) = (owners.last(), now) {
            super::grant::change_owner(
                engine,
                ctx,
                session,
                AclTarget::Relation { relation },
                owner,
            )
            .await?;
        }
        Ok(Outcome::done("ALTER TABLE"))
    }
}

/// Apply `steps` to table `name` (in `session`'s open transaction, if
/// there is one): the one way a table's declaration changes.
pub(super) async fn change_table(
    engine: &Engine,
    ctx: &SessionContext,
    session: Option<&SessionTransaction>,
    notices: &Notices,
    name: &QualifiedName,
    if_exists: bool,
    steps: Vec<Step>,
) -> Result<()> {
    {
        let name = name.clone();
        let Some((columns, rules)) = engine.catalog.declaration_for(session, &name).await else {
            if if_exists {
                notices.send(format!(
                    "relation \"{}\" does not exist, skipping",
                    name.name
                ));
                return Ok(());
            }
            return Err(BrookError::UndefinedTable(name.name));
        };
        let mut altered = Altered {
            old: name.clone(),
            name: name.clone(),
            columns: columns
                .into_iter()
                .map(|def| Column {
                    source: quote_ident(&def.name),
                    old: Some(def.name.clone()),
                    def,
                })
                .collect(),
            rules,
            changed: false,
            dropped: vec![],
            cascade: false,
        };
        for step in &steps {
            match step {
                Step::Alter(op) => altered.apply(op, notices)?,
                Step::AddIndex(index) => {
                    for column in &index.columns {
                        altered.column(column)?;
                    }
                    altered.rules.indexes.push(index.clone());
                    altered.changed = true;
                }
                Step::AddUnique(unique) => {
                    for column in &unique.columns {
                        altered.column(column)?;
                    }
                    altered.add_rules(TableRules {
                        unique: vec![unique.clone()],
                        ..TableRules::default()
                    })?;
                    altered.changed = true;
                }
                Step::DropIndex(index) => {
                    altered.rules.indexes.retain(|i| i.name != *index);
                    altered.rules.unique.retain(|u| u.name != *index);
                    altered.changed = true;
                }
            }
        }
        if !altered.changed {
            return Ok(());
        }
        // A pipeline's Kafka offsets are committed with the table's files;
        // new files would start it over (duplicates) — refused, as DROP is.
        let loaders = engine.pipelines.readers_of(&name.schema, &name.name).await;
        if let Some(pipeline) = loaders.first() {
            return Err(BrookError::ObjectInUse(format!(
                "cannot alter table {name} because pipeline {pipeline} loads into it \
                 (its Kafka offsets are kept with the table's files); DROP PIPELINE {pipeline} first"
            )));
        }
        if altered.name != altered.old && engine.catalog.exists_for(session, &altered.name).await {
            return Err(BrookError::DuplicateTable(altered.name.name.clone()));
        }
        // Outside a block the statement keeps the table's writers out from
        // before its snapshot to its COMMIT (PostgreSQL's exclusive lock):
        // under a steady stream of inserts the copy could otherwise never
        // commit. Inside a block it cannot hold them across statements; a
        // write after its snapshot makes its COMMIT fail with 40001.
        let held = match SessionTransaction::open_in(ctx) {
            Some(_) => None,
            None => engine.catalog.table(&altered.old),
        };
        let _hold = match &held {
            Some(table) => Some(table.hold_writes().await),
            None => None,
        };
        let holding = held.is_some();
        in_transaction(engine, ctx, session, |slot| {
            replace_table(engine, ctx, slot, altered, notices, holding)
        })
        .await
    }
}

/// Copy the old table into the one `altered` describes, staged in `slot`.
async fn replace_table(
    engine: &Engine,
    ctx: &SessionContext,
    slot: Arc<SessionTransaction>,
    altered: Altered,
    notices: &Notices,
    held: bool,
) -> Result<()> {
    // Read while the name is still the old table's for this session (its
    // own uncommitted rows included).
    let batches = ctx.sql(&altered.copy_query()).await?.collect().await?;
    // Every NOT NULL column of the new declaration (a column NOT NULL
    // before holds no NULL, unless its new type's cast made one).
    for column in altered.columns.iter().filter(|c| !c.def.nullable) {
        let nulls = batches
            .iter()
            .filter_map(|b| b.column_by_name(&column.def.name))
            .any(|c| c.null_count() > 0);
        if nulls {
            return Err(BrookError::ColumnHasNulls {
                table: altered.name.name.clone(),
                column: column.def.name.clone(),
            });
        }
    }
    let kept: Vec<(String, String)> = altered
        .columns
        .iter()
        .filter_map(|c| c.old.clone().map(|old| (old, c.def.name.clone())))
        .collect();
    let columns: Vec<ColumnDef> = altered.columns.iter().map(|c| c.def.clone()).collect();
    let (_, table) = engine
        .catalog
        .stage_replace_table(
            &slot,
            &altered.old,
            &altered.name,
            Replacement {
                columns,
                rules: altered.rules.clone(),
                kept,
                held,
            },
        )
        .await?;
    // Keys already there cannot repeat in their own rows: a repeat is one
    // the statement adds, which PostgreSQL reports as the index it could
    // not build.
    table
        .append_in(Some(&slot), batches)
        .await
        .map_err(|e| match e {
            BrookError::UniqueViolation { constraint, detail } => BrookError::UniqueIndexFailed {
                constraint,
                detail: detail.replace("already exists", "is duplicated"),
            },
            other => other,
        })?;
    let change = Dependents {
        table: &altered.old,
        notices,
        renamed: (altered.name != altered.old).then_some(&altered.name),
        dropped: &altered.dropped,
        cascade: altered.cascade,
    };
    change.replan(engine, ctx, &slot).await
}

/// `ALTER TABLE v RENAME TO w` of a view (PostgreSQL allows it); `OWNER TO`
/// is kept as it is.
async fn alter_view_as_table(
    engine: &Engine,
    ctx: &SessionContext,
    session: Option<&SessionTransaction>,
    name: &QualifiedName,
    operations: &[Op],
) -> Result<Outcome> {
    let mut rename_to = None;
    for op in operations {
        match op {
            Op::OwnerTo { .. } => {}
            Op::RenameTable {
                table_name: RenameTableNameKind::To(new) | RenameTableNameKind::As(new),
            } => rename_to = Some(qualify(new)?.name),
            _ => {
                return Err(BrookError::WrongObjectType(format!(
                    "\"{}\" is not a table",
                    name.name
                )));
            }
        }
    }
    if let Some(new) = rename_to {
        rename_view(engine, ctx, session, name, new, &Notices::default()).await?;
    }
    Ok(Outcome::done("ALTER TABLE"))
}

impl AlterView {
    /// Rename the view (in `session`'s open transaction, if there is one).
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
        notices: &Notices,
    ) -> Result<Outcome> {
        let name = qualify(&self.name)?;
        if !engine.catalog.is_view_for(session, &name).await {
            if engine.catalog.exists_for(session, &name).await {
                return Err(BrookError::WrongObjectType(format!(
                    "\"{}\" is not a view",
                    name.name
                )));
            }
            if self.if_exists {
                notices.send(format!(
                    "relation \"{}\" does not exist, skipping",
                    name.name
                ));
                return Ok(Outcome::done("ALTER VIEW"));
            }
            return Err(BrookError::UndefinedTable(name.name));
        }
        if let Some(new) = self.rename_to {
            rename_view(engine, ctx, session, &name, new, notices).await?;
        }
        if let Some(owner) = &self.owner_to {
            let target = AclTarget::Relation { relation: name };
            super::grant::change_owner(engine, ctx, session, target, owner).await?;
        }
        Ok(Outcome::done("ALTER VIEW"))
    }
}

async fn rename_view(
    engine: &Engine,
    ctx: &SessionContext,
    session: Option<&SessionTransaction>,
    name: &QualifiedName,
    new: String,
    notices: &Notices,
) -> Result<()> {
    let to = QualifiedName {
        schema: name.schema.clone(),
        name: new,
    };
    if engine.catalog.exists_for(session, &to).await {
        return Err(BrookError::DuplicateTable(to.name));
    }
    let Some(sql) = engine.catalog.view_sql_for(session, name).await else {
        return Err(BrookError::UndefinedTable(name.name.clone()));
    };
    in_transaction(engine, ctx, session, |slot| async move {
        let mut statement = parse_view(&sql)?;
        if let ast::Statement::CreateView(view) = &mut statement {
            view.name = object_name(&to);
        }
        let sql = statement.to_string();
        let provider = plan_view(ctx, &sql).await?;
        engine
            .catalog
            .stage_rename_view(&slot, name, &to, sql, provider)
            .await?;
        let change = Dependents {
            table: name,
            notices,
            renamed: Some(&to),
            dropped: &[],
            cascade: false,
        };
        change.replan(engine, ctx, &slot).await
    })
    .await
}

/// The views over a relation that changed, made again over what it is now.
struct Dependents<'a> {
    table: &'a QualifiedName,
    notices: &'a Notices,
    renamed: Option<&'a QualifiedName>,
    dropped: &'a [String],
    cascade: bool,
}

impl Dependents<'_> {
    /// Plan every view that reads the changed relation (or a view made
    /// again here) once more in the session, over what the names are now,
    /// and stage it: without this a view would go on reading the old
    /// table's files. A rename is written into the view's text.
    async fn replan(
        &self,
        engine: &Engine,
        ctx: &SessionContext,
        slot: &SessionTransaction,
    ) -> Result<()> {
        let mut changed: Vec<QualifiedName> = vec![self.table.clone()];
        for (view, sql) in engine.catalog.views().await {
            if changed.contains(&view) {
                continue;
            }
            let mut statement = parse_view(&sql)?;
            let mut reads = false;
            let _ = ast::visit_relations_mut(&mut statement, |relation| {
                if let Ok(read) = qualify(relation)
                    && changed.contains(&read)
                {
                    reads = true;
                    if read == *self.table
                        && let Some(to) = self.renamed
                    {
                        *relation = object_name(to);
                    }
                }
                ControlFlow::<()>::Continue(())
            });
            if !reads {
                continue;
            }
            let sql = statement.to_string();
            match plan_view(ctx, &sql).await {
                Ok(provider) => {
                    engine.catalog.stage_create_view(
                        slot,
                        &view,
                        sql,
                        provider,
                        true,
                        Default::default(),
                    )?;
                }
                Err(_) if self.cascade => {
                    self.notices
                        .send(format!("drop cascades to view {}", view.name));
                    engine.catalog.stage_drop_view(slot, &view)?;
                }
                Err(e) => return Err(self.refusal(&view, e)),
            }
            changed.push(view);
        }
        Ok(())
    }

    /// PostgreSQL's 2BP01 for a dropped column a view reads; Brook's own
    /// refusal for a change PostgreSQL's views follow (they are bound to
    /// columns, Brook's to their text).
    fn refusal(&self, view: &QualifiedName, cause: BrookError) -> BrookError {
        if let Some(column) = self.dropped.first() {
            return BrookError::ViewDepends {
                message: format!(
                    "cannot drop column {column} of table {} because other objects depend on it",
                    self.table.name
                ),
                detail: format!(
                    "view {} depends on column {column} of table {}",
                    view.name, self.table.name
                ),
            };
        }
        BrookError::Unsupported(format!(
            "this change to \"{}\" while view \"{}\" reads it (the view would no longer plan: {cause}); \
             drop the view, alter, and create it again",
            self.table.name, view.name
        ))
    }
}

fn object_name(name: &QualifiedName) -> ast::ObjectName {
    ast::ObjectName::from(vec![
        ast::Ident::with_quote('"', &name.schema),
        ast::Ident::with_quote('"', &name.name),
    ])
}

fn parse_view(sql: &str) -> Result<ast::Statement> {
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .ok()
        .and_then(|mut s| s.pop())
        .ok_or_else(|| BrookError::CatalogCorrupt(format!("a view's text does not parse: {sql}")))
}

/// A `CREATE VIEW` planned in the session (it sees the transaction's tables).
async fn plan_view(
    ctx: &SessionContext,
    sql: &str,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let LogicalPlan::Ddl(DdlStatement::CreateView(planned)) =
        ctx.state().create_logical_plan(sql).await?
    else {
        return Err(BrookError::Internal(format!(
            "{sql} did not plan as a view"
        )));
    };
    Ok(Arc::new(ViewTable::new(
        planned.input.as_ref().clone(),
        planned.definition.clone(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_column_is_renamed_in_a_check_and_nowhere_else() {
        let renamed = rename_column_in_expr("price > 0 AND note <> 'price'", "price", "cost");
        assert_eq!(renamed.as_deref(), Some("\"cost\" > 0 AND note <> 'price'"));
        assert_eq!(expr_columns("a > b OR t.c IS NULL"), vec!["a", "b", "c"]);
    }

    #[test]
    fn alter_view_reads_rename_and_owner() {
        let parse = |sql: &str| {
            super::super::parser::parse_brook_grammar(sql, |p, _| parse_alter_view(p))
                .map(|v| v.map(|v| (v.if_exists, v.rename_to)))
        };
        assert_eq!(
            parse("ALTER VIEW IF EXISTS v RENAME TO \"W\"")
                .ok()
                .flatten(),
            Some((true, Some("W".to_string())))
        );
        assert_eq!(
            parse("alter view s.v owner to brook").ok().flatten(),
            Some((false, None))
        );
        assert!(parse("ALTER VIEW v AS SELECT 1").is_err());
    }
}
