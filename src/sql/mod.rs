//! Brook's own statements: the ones DataFusion alone would get wrong for a
//! durable database (CREATE TABLE, DROP, TRUNCATE, CREATE VIEW, schemas,
//! COPY) and the ones only Brook's grammar knows (pipelines and models).
//!
//! One module per statement, as mini-redis keeps one command per file: each
//! is a struct that knows how it is parsed and how it executes. [`Statement`]
//! names them all; it is recognised once, here, and dispatched from here.
//! Everything else goes to DataFusion unchanged.

pub mod alter_schema;
pub mod alter_sequence;
pub mod alter_table;
pub mod authorize;
pub mod comment;
pub mod copy;
pub mod copy_out;
pub mod create_schema;
pub mod create_sequence;
pub mod create_table;
pub mod create_view;
pub mod default_privileges;
pub mod dml_returning;
pub mod dml_subqueries;
pub mod drop;
pub mod grant;
pub mod identity;
pub mod index;
pub mod insert_defaults;
pub mod lock_table;
pub mod merge;
pub mod model;
pub mod outcome;
pub mod parser;
pub mod pipeline;
pub mod policy;
pub mod role;
pub mod server_files;
pub mod truncate;
pub mod upsert;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::parser::ParserError;

use crate::catalog::search_path::SearchPath;
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;
pub use alter_schema::AlterSchema;
pub use alter_sequence::AlterSequence;
pub use alter_table::{AlterTable, AlterView};
pub use comment::Comment;
pub use copy::{CopyFrom, CopySpec};
pub use copy_out::{CopyOutSpec, CopyTo};
pub use create_schema::CreateSchema;
pub use create_sequence::CreateSequence;
pub use create_table::CreateTable;
pub use create_view::CreateView;
pub use drop::DropObjects;
pub use grant::{Grant, GrantRole, Revoke};
pub use index::CreateIndex;
pub use lock_table::LockTable;
pub use merge::Merge;
pub use model::{CreateModel, DropModel, RefreshModel, ShowModels};
pub use outcome::{Notice, Notices, Outcome};
pub use parser::BrookObject;
pub use pipeline::{
    CreatePipeline, DropPipeline, RetryPipelineErrors, SetPipelineOffsets, ShowPipelines,
    StartPipeline, StopPipeline, TestPipeline,
};
pub use role::{AlterRole, CreateRole, DropRole};
pub use truncate::Truncate;

/// Every statement Brook executes itself rather than DataFusion.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    CreateTable(CreateTable),
    DropObjects(DropObjects),
    Truncate(Truncate),
    CreateView(CreateView),
    CreateSchema(CreateSchema),
    CreateSequence(CreateSequence),
    AlterSequence(AlterSequence),
    AlterSchema(AlterSchema),
    AlterTable(AlterTable),
    AlterView(AlterView),
    CreateIndex(CreateIndex),
    LockTable(LockTable),
    Comment(Comment),
    Policy(Box<policy::PolicyStatement>),
    CreateRole(CreateRole),
    AlterRole(AlterRole),
    DropRole(DropRole),
    Grant(Grant),
    Revoke(Revoke),
    GrantRole(GrantRole),
    GrantOnModel(grant::GrantOnModel),
    AlterDefaultPrivileges(Box<default_privileges::AlterDefaultPrivileges>),
    Merge(Merge),
    CopyFrom(CopyFrom),
    CopyTo(CopyTo),
    CreatePipeline(CreatePipeline),
    StartPipeline(StartPipeline),
    StopPipeline(StopPipeline),
    SetPipelineOffsets(SetPipelineOffsets),
    RetryPipelineErrors(RetryPipelineErrors),
    DropPipeline(DropPipeline),
    ShowPipelines(ShowPipelines),
    TestPipeline(TestPipeline),
    CreateModel(CreateModel),
    RefreshModel(RefreshModel),
    DropModel(DropModel),
    ShowModels(ShowModels),
}

impl Statement {
    /// The audit log's class of this statement (`observability::audit`):
    /// what changes the server's objects, roles and privileges, its
    /// pipelines and models, or reaches a server file. `None`: not
    /// audited (reads and data changes, which the audit log leaves to the
    /// statement log).
    pub fn audit_class(&self) -> Option<&'static str> {
        use ast::CopyTarget;
        Some(match self {
            Statement::CreateTable(_)
            | Statement::DropObjects(_)
            | Statement::CreateView(_)
            | Statement::CreateSchema(_)
            | Statement::CreateSequence(_)
            | Statement::AlterSequence(_)
            | Statement::AlterSchema(_)
            | Statement::AlterTable(_)
            | Statement::AlterView(_)
            | Statement::CreateIndex(_)
            | Statement::Comment(_)
            | Statement::Policy(_) => "ddl",
            Statement::CreateRole(_)
            | Statement::AlterRole(_)
            | Statement::DropRole(_)
            | Statement::GrantRole(_) => "role",
            Statement::Grant(_)
            | Statement::Revoke(_)
            | Statement::GrantOnModel(_)
            | Statement::AlterDefaultPrivileges(_) => "privilege",
            Statement::CreatePipeline(_)
            | Statement::StartPipeline(_)
            | Statement::StopPipeline(_)
            | Statement::SetPipelineOffsets(_)
            | Statement::RetryPipelineErrors(_)
            | Statement::DropPipeline(_) => "pipeline",
            Statement::CreateModel(_) | Statement::RefreshModel(_) | Statement::DropModel(_) => {
                "model"
            }
            Statement::CopyFrom(CopyFrom { target, .. })
            | Statement::CopyTo(CopyTo { target, .. })
                if matches!(target, CopyTarget::File { .. } | CopyTarget::Program { .. }) =>
            {
                "server_file"
            }
            Statement::Truncate(_)
            | Statement::LockTable(_)
            | Statement::Merge(_)
            | Statement::CopyFrom(_)
            | Statement::CopyTo(_)
            | Statement::ShowPipelines(_)
            | Statement::TestPipeline(_)
            | Statement::ShowModels(_) => return None,
        })
    }

    /// Parse `sql` (one statement) if it is of Brook's own grammar
    /// (`CREATE PIPELINE`, `SHOW MODELS`, …); `Ok(None)` for any other
    /// statement, which sqlparser then parses (and [`Statement::from_sql`]
    /// may still claim).
    pub fn parse(sql: &str) -> std::result::Result<Option<Self>, ParserError> {
        parser::parse_brook_grammar(sql, |parser, object| match object {
            BrookObject::Pipeline => pipeline::parse(parser),
            BrookObject::Model => model::parse(parser),
            BrookObject::Sequence => alter_sequence::parse(parser).map(Statement::AlterSequence),
            BrookObject::View => alter_table::parse_alter_view(parser).map(Statement::AlterView),
            BrookObject::User => match parser.parse_statement()? {
                ast::Statement::CreateRole(mut create) => {
                    create.login = create.login.or(Some(true));
                    Ok(Statement::CreateRole(CreateRole(Box::new(create))))
                }
                other => Err(ParserError::ParserError(format!(
                    "not a CREATE USER statement: {other}"
                ))),
            },
            BrookObject::Privileges => grant::parse(parser),
            BrookObject::DefaultPrivileges => default_privileges::parse(parser),
            BrookObject::Comment => {
                let statement = parser.parse_statement()?;
                Statement::from_sql(&statement).ok_or_else(|| {
                    ParserError::ParserError(format!("not a COMMENT statement: {statement}"))
                })
            }
        })
    }

    /// The statement, if Brook (rather than plain DataFusion) executes this
    /// one that sqlparser parsed.
    pub fn from_sql(statement: &ast::Statement) -> Option<Self> {
        Some(match statement {
            ast::Statement::CreateTable(create) => {
                Statement::CreateTable(CreateTable(Box::new(create.clone())))
            }
            ast::Statement::Truncate(truncate) => Statement::Truncate(Truncate(truncate.clone())),
            ast::Statement::Merge(merge) => Statement::Merge(Merge(Box::new(merge.clone()))),
            ast::Statement::Lock(lock) => Statement::LockTable(LockTable(lock.clone())),
            ast::Statement::CreateRole(create) => {
                Statement::CreateRole(CreateRole(Box::new(create.clone())))
            }
            ast::Statement::AlterRole { name, operation } => Statement::AlterRole(AlterRole {
                name: name.clone(),
                operation: Box::new(operation.clone()),
            }),
            ast::Statement::Drop {
                object_type: ast::ObjectType::Role,
                if_exists,
                names,
                ..
            } => Statement::DropRole(DropRole {
                names: names.clone(),
                if_exists: *if_exists,
            }),
            ast::Statement::Comment {
                object_type,
                object_name,
                comment,
                ..
            } => Statement::Comment(Comment {
                object_type: *object_type,
                object_name: object_name.clone(),
                comment: comment.clone(),
            }),
            ast::Statement::AlterSchema(alter) => {
                Statement::AlterSchema(AlterSchema(alter.clone()))
            }
            ast::Statement::CreatePolicy(create) => {
                Statement::Policy(Box::new(policy::PolicyStatement::Create(create.clone())))
            }
            ast::Statement::AlterPolicy(alter) => {
                Statement::Policy(Box::new(policy::PolicyStatement::Alter(alter.clone())))
            }
            ast::Statement::DropPolicy(drop) => {
                Statement::Policy(Box::new(policy::PolicyStatement::Drop(drop.clone())))
            }
            ast::Statement::CreateIndex(create) => {
                Statement::CreateIndex(CreateIndex(Box::new(create.clone())))
            }
            ast::Statement::AlterTable(alter) => {
                Statement::AlterTable(AlterTable(Box::new(alter.clone())))
            }
            ast::Statement::CreateView(view) => Statement::CreateView(CreateView {
                view: Box::new(view.clone()),
                sql: statement.to_string(),
            }),
            ast::Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => Statement::CreateSchema(CreateSchema {
                name: schema_name.clone(),
                if_not_exists: *if_not_exists,
            }),
            ast::Statement::CreateSequence {
                temporary,
                if_not_exists,
                name,
                data_type,
                sequence_options,
                owned_by,
            } => Statement::CreateSequence(CreateSequence {
                name: name.clone(),
                if_not_exists: *if_not_exists,
                data_type: data_type.clone(),
                options: sequence_options.clone(),
                temporary: *temporary,
                owned_by: owned_by.clone(),
            }),
            ast::Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } if DropObjects::is_brooks(*object_type) => Statement::DropObjects(DropObjects {
                object_type: *object_type,
                names: names.clone(),
                if_exists: *if_exists,
                cascade: *cascade,
            }),
            ast::Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                ..
            } => {
                let (source, target) = (source.clone(), target.clone());
                let (options, legacy_options) = (options.clone(), legacy_options.clone());
                if *to {
                    Statement::CopyTo(CopyTo {
                        source,
                        target,
                        options,
                        legacy_options,
                    })
                } else {
                    Statement::CopyFrom(CopyFrom {
                        source,
                        target,
                        options,
                        legacy_options,
                    })
                }
            }
            _ => return None,
        })
    }

    /// The columns the statement answers with, known before it runs (the
    /// extended protocol's Describe). `None`: it returns no rows.
    pub fn columns(&self, engine: &Engine) -> Option<SchemaRef> {
        match self {
            Statement::ShowPipelines(_) => Some(ShowPipelines::columns()),
            Statement::RetryPipelineErrors(_) => Some(RetryPipelineErrors::columns()),
            Statement::TestPipeline(test) => test.columns(engine),
            Statement::ShowModels(_) => Some(ShowModels::columns()),
            _ => None,
        }
    }

    /// Write out the bare table names of the statement as the session's
    /// search path resolves them (catalog::search_path), for a session
    /// whose path is not the default: Brook's catalog statements, and the
    /// queries they run or store, otherwise read bare names as `public`.
    pub fn resolve_names(&mut self, path: &SearchPath) {
        match self {
            Statement::CreateTable(s) => {
                path.qualify(s.0.as_mut());
            }
            Statement::CreateSequence(s) => {
                path.qualify_name(&mut s.name);
            }
            Statement::AlterSequence(s) => {
                path.qualify_name(&mut s.name);
            }
            Statement::AlterTable(s) => {
                path.qualify_name(&mut s.0.name);
            }
            Statement::AlterView(s) => {
                path.qualify_name(&mut s.name);
            }
            Statement::CreateIndex(s) => {
                path.qualify_name(&mut s.0.table_name);
            }
            Statement::Merge(s) => {
                path.qualify(s.0.as_mut());
            }
            Statement::LockTable(s) => {
                for target in &mut s.0.tables {
                    path.qualify_name(&mut target.name);
                }
            }
            Statement::Comment(s) => {
                if let Some(mut relation) = s.relation_name() {
                    path.qualify_name(&mut relation);
                    s.set_relation_name(relation);
                }
            }
            Statement::Policy(s) => {
                path.qualify_name(s.table_name_mut());
            }
            Statement::DropObjects(s) if s.object_type != ast::ObjectType::Schema => {
                for name in &mut s.names {
                    path.qualify_name(name);
                }
            }
            Statement::Truncate(s) => {
                path.qualify(&mut s.0);
            }
            Statement::Grant(Grant(g)) => {
                if let Some(ast::GrantObjects::Tables(names) | ast::GrantObjects::Views(names)) =
                    &mut g.objects
                {
                    for name in names {
                        path.qualify_name(name);
                    }
                }
            }
            Statement::Revoke(Revoke { revoke, .. }) => {
                if let Some(ast::GrantObjects::Tables(names) | ast::GrantObjects::Views(names)) =
                    &mut revoke.objects
                {
                    for name in names {
                        path.qualify_name(name);
                    }
                }
            }
            Statement::CreateView(s) => {
                // The stored text is the statement's: rewritten if a name was.
                let changed = path.qualify(s.view.as_mut()) | path.qualify_name(&mut s.view.name);
                if changed {
                    s.sql = ast::Statement::CreateView(s.view.as_ref().clone()).to_string();
                }
            }
            Statement::CopyFrom(CopyFrom { source, .. })
            | Statement::CopyTo(CopyTo { source, .. }) => match source {
                ast::CopySource::Table { table_name, .. } => {
                    path.qualify_name(table_name);
                }
                ast::CopySource::Query(query) => {
                    path.qualify(query.as_mut());
                }
            },
            Statement::CreatePipeline(s) if s.bare_table => {
                let name = &s.def.table_name;
                s.def.table_schema = path.resolve(name).unwrap_or_else(|| path.default_schema());
            }
            Statement::CreateModel(s) => {
                if let Some(query) = path.qualify_sql(&s.query) {
                    s.query = query;
                }
            }
            _ => {}
        }
    }

    /// What a statement that cannot take part in a transaction is called in
    /// the error refusing it inside one; `None` for the ones that take part
    /// (or only read). Pipelines, models, schemas and sequences change
    /// state outside the tables' write-ahead log, which a ROLLBACK could
    /// not undo.
    fn outside_transactions(&self) -> Option<&'static str> {
        Some(match self {
            Statement::CreateTable(_)
            | Statement::Truncate(_)
            | Statement::CreateView(_)
            | Statement::CopyFrom(_)
            | Statement::CopyTo(_)
            | Statement::ShowPipelines(_)
            | Statement::TestPipeline(_)
            | Statement::ShowModels(_)
            // Refused inside their execution when they would change anything.
            | Statement::CreateSchema(_)
            | Statement::CreateSequence(_)
            | Statement::AlterTable(_)
            | Statement::AlterView(_)
            | Statement::CreateIndex(_)
            | Statement::LockTable(_)
            | Statement::Comment(_)
            | Statement::Policy(_)
            | Statement::AlterSchema(_)
            | Statement::Grant(_)
            | Statement::Revoke(_)
            | Statement::AlterDefaultPrivileges(_)
            | Statement::Merge(_) => return None,
            Statement::DropObjects(d) => match d.object_type {
                ast::ObjectType::Table | ast::ObjectType::View | ast::ObjectType::Index => {
                    return None;
                }
                ast::ObjectType::Schema => "DROP SCHEMA",
                _ => "DROP SEQUENCE",
            },
            // Roles are kept apart from the tables' log (catalog::roles).
            Statement::CreateRole(_) => "CREATE ROLE",
            Statement::AlterRole(_) => "ALTER ROLE",
            Statement::DropRole(_) => "DROP ROLE",
            Statement::GrantOnModel(_) => "GRANT … ON MODEL",
            Statement::GrantRole(g) if g.revoke => "REVOKE",
            Statement::GrantRole(_) => "GRANT",
            // Sequences are not transactional in Brook (see CREATE SEQUENCE).
            Statement::AlterSequence(_) => "ALTER SEQUENCE",
            Statement::CreatePipeline(_) => "CREATE PIPELINE",
            Statement::StartPipeline(_) => "START PIPELINE",
            Statement::StopPipeline(_) => "STOP PIPELINE",
            Statement::SetPipelineOffsets(_) => "ALTER PIPELINE",
            Statement::RetryPipelineErrors(_) => "RETRY PIPELINE ERRORS",
            Statement::DropPipeline(_) => "DROP PIPELINE",
            Statement::CreateModel(_) => "CREATE MODEL",
            Statement::RefreshModel(_) => "REFRESH MODEL",
            Statement::DropModel(_) => "DROP MODEL",
        })
    }

    /// Execute the statement in the session whose context is `ctx` (inside
    /// its open transaction, if it has one). Progress a long one reports
    /// (a model training) goes to `notices`.
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        notices: Notices,
    ) -> Result<Outcome> {
        let session = SessionTransaction::open_in(ctx);
        let session = session.as_deref();
        if session.is_some()
            && let Some(command) = self.outside_transactions()
        {
            return Err(BrookError::InTransactionBlock(command.to_string()));
        }
        self.authorize(engine, ctx).await?;
        match self {
            Statement::CreateTable(s) => s.execute(engine, ctx, session).await,
            Statement::DropObjects(s) if s.object_type == ast::ObjectType::Index => {
                index::drop_indexes(engine, ctx, session, &notices, &s.names, s.if_exists).await
            }
            Statement::DropObjects(s) => s.execute(engine, session).await,
            Statement::Truncate(s) => s.execute(engine, session).await,
            Statement::CreateView(s) => s.execute(engine, ctx, session).await,
            Statement::CreateSchema(s) => s.execute(engine, ctx, session).await,
            Statement::CreateSequence(s) => s.execute(engine, ctx, session.is_some()).await,
            Statement::AlterSequence(s) => s.execute(engine).await,
            Statement::AlterTable(s) => s.execute(engine, ctx, session, &notices).await,
            Statement::AlterView(s) => s.execute(engine, ctx, session, &notices).await,
            Statement::CreateIndex(s) => s.execute(engine, ctx, session, &notices).await,
            Statement::Merge(s) => s.execute(engine, ctx, session).await,
            Statement::LockTable(s) => s.execute(engine, ctx, session).await,
            Statement::Comment(s) => s.execute(engine, ctx, session).await,
            Statement::Policy(s) => (*s).execute(engine, ctx, session, &notices).await,
            Statement::CreateRole(s) => s.execute(engine, ctx),
            Statement::AlterRole(s) => s.execute(engine, ctx),
            Statement::DropRole(s) => s.execute(engine, ctx),
            Statement::Grant(s) => s.execute(engine, ctx, session, &notices).await,
            Statement::Revoke(s) => s.execute(engine, ctx, session, &notices).await,
            Statement::GrantRole(s) => s.execute(engine, ctx),
            Statement::GrantOnModel(s) => s.execute(engine, ctx, &notices).await,
            Statement::AlterDefaultPrivileges(s) => {
                (*s).execute(engine, ctx, session, &notices).await
            }
            Statement::AlterSchema(s) => s.execute(engine, ctx, session).await,
            Statement::CopyFrom(s) => s.execute(engine, ctx, session).await,
            Statement::CopyTo(s) => s.execute(engine, ctx),
            Statement::CreatePipeline(s) => s.execute(engine, ctx).await,
            Statement::StartPipeline(s) => s.execute(engine).await,
            Statement::StopPipeline(s) => s.execute(engine).await,
            Statement::SetPipelineOffsets(s) => s.execute(engine).await,
            Statement::RetryPipelineErrors(s) => s.execute(engine).await,
            Statement::DropPipeline(s) => s.execute(engine).await,
            Statement::ShowPipelines(s) => s.execute(ctx).await,
            Statement::TestPipeline(s) => s.execute(engine).await,
            Statement::CreateModel(s) => s.execute(engine, ctx, notices).await,
            Statement::RefreshModel(s) => s.execute(engine, notices).await,
            Statement::DropModel(s) => s.execute(engine).await,
            Statement::ShowModels(s) => s.execute(ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn from_sql(sql: &str) -> Option<Statement> {
        let parsed = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        Statement::from_sql(&parsed[0])
    }

    #[test]
    fn brook_claims_the_catalog_statements_sqlparser_parses() {
        for sql in [
            "CREATE TABLE t (a int)",
            "CREATE TABLE t AS SELECT 1",
            "DROP TABLE t",
            "DROP VIEW v",
            "DROP SCHEMA s CASCADE",
            "TRUNCATE t",
            "CREATE VIEW v AS SELECT 1",
            "CREATE SCHEMA s",
            "COPY t FROM STDIN",
            "COPY t FROM '/etc/passwd'",
            "COPY t TO STDOUT",
            "COPY (SELECT 1) TO '/tmp/x'",
        ] {
            assert!(from_sql(sql).is_some(), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "INSERT INTO t VALUES (1)",
            "DROP FUNCTION f",
            "SET x = 1",
        ] {
            assert!(from_sql(sql).is_none(), "{sql}");
        }
    }

    #[test]
    fn the_direction_of_copy_picks_the_statement() {
        assert!(matches!(
            from_sql("COPY t (a) FROM STDIN"),
            Some(Statement::CopyFrom(_))
        ));
        assert!(matches!(
            from_sql("COPY t TO STDOUT"),
            Some(Statement::CopyTo(_))
        ));
    }

    #[test]
    fn a_view_keeps_the_text_datafusion_and_the_catalog_take() {
        let Some(Statement::CreateView(view)) = from_sql("create   view v as select 1 as one")
        else {
            panic!("not a view")
        };
        assert_eq!(view.sql, "CREATE VIEW v AS SELECT 1 AS one");
    }

    #[test]
    fn describe_knows_the_columns_of_rows_answering_statements() {
        let columns = |sql: &str| match Statement::parse(sql) {
            Ok(Some(Statement::ShowModels(_))) => Some(ShowModels::columns()),
            Ok(Some(Statement::ShowPipelines(_))) => Some(ShowPipelines::columns()),
            Ok(Some(Statement::RetryPipelineErrors(_))) => Some(RetryPipelineErrors::columns()),
            _ => None,
        };
        assert_eq!(columns("SHOW MODELS").map(|s| s.fields().len()), Some(6));
        assert_eq!(columns("SHOW PIPELINES").map(|s| s.fields().len()), Some(4));
        assert_eq!(
            columns("ALTER PIPELINE p RETRY ERRORS WHERE true").map(|s| s.fields().len()),
            Some(4)
        );
    }
}
