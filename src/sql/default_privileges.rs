//! `ALTER DEFAULT PRIVILEGES [FOR ROLE r, …] [IN SCHEMA s, …] GRANT|REVOKE
//! … ON TABLES TO|FROM …`, as PostgreSQL 15 has it: the grants the tables
//! and views a role creates from now on start with (catalog's
//! `default_acls`, applied by CREATE TABLE and CREATE VIEW). A role
//! changes its own defaults, or a role's it is a member of; a superuser
//! anyone's. The change takes part in the transaction it runs in.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::alter_table::in_transaction;
use super::authorize::identity;
use super::grant::{grantee_oids, parse_grantees, parse_privileges, parse_verb, privileges_of};
use super::{Notices, Outcome};
use crate::catalog::grants::AclTarget;
use crate::catalog::names::normalize;
use crate::catalog::privileges::ObjectKind;
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;

/// One `ALTER DEFAULT PRIVILEGES` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterDefaultPrivileges {
    /// `FOR ROLE`: empty for the current role.
    roles: Vec<String>,
    /// `IN SCHEMA`: empty for every schema.
    schemas: Vec<String>,
    /// What the defaults are for: TABLES (the only kind Brook keeps).
    objects: String,
    privileges: ast::Privileges,
    grantees: Vec<ast::Grantee>,
    /// `WITH GRANT OPTION`, or `REVOKE GRANT OPTION FOR`.
    grant_option: bool,
    revoke: bool,
}

/// Parse the statement (its first word not consumed).
pub fn parse(parser: &mut Parser) -> std::result::Result<super::Statement, ParserError> {
    parser.expect_keyword(Keyword::ALTER)?;
    parser.expect_keywords(&[Keyword::DEFAULT, Keyword::PRIVILEGES])?;
    let name = |p: &mut Parser| p.parse_identifier().map(|i| normalize(&i));
    let mut roles = vec![];
    let mut schemas = vec![];
    loop {
        if parser.parse_keyword(Keyword::FOR) {
            if !parser.parse_keyword(Keyword::ROLE) {
                parser.expect_keyword(Keyword::USER)?;
            }
            roles.extend(parser.parse_comma_separated(name)?);
        } else if parser.parse_keywords(&[Keyword::IN, Keyword::SCHEMA]) {
            schemas.extend(parser.parse_comma_separated(name)?);
        } else {
            break;
        }
    }
    let (revoke, grant_option) = parse_verb(parser)?;
    let privileges = parse_privileges(parser)?;
    parser.expect_keyword(Keyword::ON)?;
    let objects = parser.parse_identifier()?.value.to_ascii_uppercase();
    if ![
        "TABLES",
        "SEQUENCES",
        "FUNCTIONS",
        "ROUTINES",
        "TYPES",
        "SCHEMAS",
    ]
    .contains(&objects.as_str())
    {
        return Err(ParserError::ParserError(format!(
            "Expected: TABLES, SEQUENCES, FUNCTIONS, ROUTINES, TYPES or SCHEMAS, found: {objects}"
        )));
    }
    let (grantees, with_grant_option, _cascade) = parse_grantees(parser, revoke, grant_option)?;
    Ok(super::Statement::AlterDefaultPrivileges(Box::new(
        AlterDefaultPrivileges {
            roles,
            schemas,
            objects,
            privileges,
            grantees,
            grant_option: with_grant_option,
            revoke,
        },
    )))
}

impl AlterDefaultPrivileges {
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
        _notices: &Notices,
    ) -> Result<Outcome> {
        if self.objects != "TABLES" {
            return Err(BrookError::Unsupported(format!(
                "ALTER DEFAULT PRIVILEGES … ON {} (only ON TABLES)",
                self.objects
            )));
        }
        let who = identity(engine, ctx);
        let roles = if self.roles.is_empty() {
            vec![who.name.clone()]
        } else {
            self.roles.clone()
        };
        let mut role_oids = vec![];
        for role in &roles {
            let oid = engine.roles.oid_of(role).ok_or_else(|| {
                BrookError::UndefinedObject(format!("role \"{role}\" does not exist"))
            })?;
            if !(who.superuser || who.oids.contains(&oid)) {
                return Err(BrookError::NotAllowed(format!(
                    "must be member of role \"{role}\""
                )));
            }
            role_oids.push(oid);
        }
        let kind = ObjectKind::Relation;
        let wanted = privileges_of(&self.privileges, kind, "relation", self.revoke)?;
        let grantees = grantee_oids(engine, &who, &self.grantees)?;
        let schemas: Vec<Option<String>> = if self.schemas.is_empty() {
            vec![None]
        } else {
            self.schemas.iter().cloned().map(Some).collect()
        };
        let mut planned = vec![];
        for &role in &role_oids {
            for schema in &schemas {
                let target = AclTarget::Defaults {
                    role,
                    schema: schema.clone(),
                };
                let mut acl = engine.catalog.acl_for(session, &target).await?;
                for &grantee in &grantees {
                    if grantee == role {
                        // The creator owns what it creates: it holds every
                        // privilege, and Brook keeps no way to take them.
                        if self.revoke {
                            return Err(BrookError::Unsupported(
                                "ALTER DEFAULT PRIVILEGES … REVOKE from the creating role itself"
                                    .into(),
                            ));
                        }
                        continue;
                    }
                    if self.revoke {
                        acl.revoke(kind, grantee, role, wanted, self.grant_option);
                    } else {
                        acl.grant(kind, grantee, role, wanted, self.grant_option);
                    }
                }
                planned.push((target, acl));
            }
        }
        in_transaction(engine, ctx, session, |slot| async move {
            for (target, acl) in planned {
                engine.catalog.stage_acl(&slot, target, acl).await?;
            }
            Ok(())
        })
        .await?;
        Ok(Outcome::done("ALTER DEFAULT PRIVILEGES"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> AlterDefaultPrivileges {
        let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
        let mut parser = Parser::new(&dialect).try_with_sql(sql).unwrap();
        match parse(&mut parser).unwrap() {
            super::super::Statement::AlterDefaultPrivileges(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_postgresqls_forms() {
        let s = parsed(
            "ALTER DEFAULT PRIVILEGES FOR ROLE loader IN SCHEMA s1, s2 \
             GRANT SELECT, INSERT ON TABLES TO analyst WITH GRANT OPTION",
        );
        assert_eq!(s.roles, ["loader"]);
        assert_eq!(s.schemas, ["s1", "s2"]);
        assert!(s.grant_option && !s.revoke);
        let s = parsed(
            "ALTER DEFAULT PRIVILEGES REVOKE GRANT OPTION FOR ALL ON TABLES FROM PUBLIC CASCADE",
        );
        assert!(s.revoke && s.grant_option && s.roles.is_empty());
        assert_eq!(s.objects, "TABLES");
        let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
        let mut parser = Parser::new(&dialect)
            .try_with_sql("ALTER DEFAULT PRIVILEGES GRANT SELECT ON WIDGETS TO a")
            .unwrap();
        assert!(parse(&mut parser).is_err());
    }
}
