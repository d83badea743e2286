//! `GRANT` and `REVOKE` of privileges on tables, views, schemas and the
//! database, as PostgreSQL 15 does them: the owner (or a role holding a
//! privilege WITH GRANT OPTION) grants; the grant is recorded with its
//! grantor; a REVOKE takes back what that grantor gave; `ALL TABLES IN
//! SCHEMA s` means every table and view in it now. The ACL lives in the
//! object's catalog entry (catalog::grants), so a GRANT takes part in the
//! transaction it runs in.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::alter_table::in_transaction;
use super::authorize::identity;
use super::{Notices, Outcome};
use crate::catalog::grants::AclTarget;
use crate::catalog::names::{QualifiedName, normalize, qualify};
use crate::catalog::privileges::{Acl, Identity, ObjectKind, PUBLIC, Privilege, PrivilegeSet};
use crate::engine::Engine;
use crate::error::{BrookError, Result, SqlState};
use crate::storage::transaction::SessionTransaction;

/// `GRANT privileges ON objects TO roles [WITH GRANT OPTION]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant(pub Box<ast::Grant>);

/// `REVOKE [GRANT OPTION FOR] privileges ON objects FROM roles [CASCADE]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Revoke {
    pub revoke: Box<ast::Revoke>,
    /// `REVOKE GRANT OPTION FOR …`: only the right to grant on is taken.
    pub grant_option: bool,
}

/// `GRANT role [, …] TO role [, …]` and `REVOKE role … FROM role …`:
/// membership, through which a role holds another's privileges (and may
/// `SET ROLE` to it).
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRole {
    pub roles: Vec<String>,
    pub members: Vec<String>,
    pub revoke: bool,
}

/// `GRANT` or `REVOKE [GRANT OPTION FOR]`: whether it revokes, and
/// whether only the grant option is revoked.
pub(super) fn parse_verb(parser: &mut Parser) -> std::result::Result<(bool, bool), ParserError> {
    let revoke = if parser.parse_keyword(Keyword::GRANT) {
        false
    } else {
        parser.expect_keyword(Keyword::REVOKE)?;
        true
    };
    let grant_option =
        revoke && parser.parse_keywords(&[Keyword::GRANT, Keyword::OPTION, Keyword::FOR]);
    Ok((revoke, grant_option))
}

/// `ALL [PRIVILEGES]` or a list of privileges.
pub(super) fn parse_privileges(
    parser: &mut Parser,
) -> std::result::Result<ast::Privileges, ParserError> {
    Ok(if parser.parse_keyword(Keyword::ALL) {
        ast::Privileges::All {
            with_privileges_keyword: parser.parse_keyword(Keyword::PRIVILEGES),
        }
    } else {
        ast::Privileges::Actions(parser.parse_actions_list()?)
    })
}

/// Parse a statement opening with GRANT or REVOKE (the word not consumed).
pub fn parse(parser: &mut Parser) -> std::result::Result<super::Statement, ParserError> {
    let (revoke, grant_option) = parse_verb(parser)?;
    if creates_models(parser) {
        return parse_create_model_grant(parser, revoke, grant_option)
            .map(super::Statement::GrantOnModel);
    }
    if !names_an_object(parser) {
        return parse_role_grant(parser, revoke).map(super::Statement::GrantRole);
    }
    if on_a_model(parser) {
        return parse_model_grant(parser, revoke, grant_option).map(super::Statement::GrantOnModel);
    }
    if revoke {
        let revoke = parser.parse_revoke()?;
        Ok(super::Statement::Revoke(Revoke {
            revoke: Box::new(revoke),
            grant_option,
        }))
    } else {
        Ok(super::Statement::Grant(Grant(Box::new(
            parser.parse_grant()?,
        ))))
    }
}

/// Whether an `ON` comes before the `TO`/`FROM` (privileges on objects,
/// not membership in roles).
fn names_an_object(parser: &Parser) -> bool {
    let mut i = 0;
    loop {
        match parser.peek_nth_token(i).token {
            Token::EOF | Token::SemiColon => return false,
            Token::Word(w) if w.quote_style.is_none() => match w.keyword {
                Keyword::ON => return true,
                Keyword::TO | Keyword::FROM => return false,
                _ => {}
            },
            _ => {}
        }
        i += 1;
    }
}

/// Whether the privilege is `CREATE MODEL` (on the database, which may
/// go unnamed), which sqlparser cannot read.
fn creates_models(parser: &Parser) -> bool {
    matches!(parser.peek_nth_token(0).token, Token::Word(ref w) if w.keyword == Keyword::CREATE)
        && matches!(
            parser.peek_nth_token(1).token,
            Token::Word(ref m) if m.value.eq_ignore_ascii_case("MODEL") && m.quote_style.is_none()
        )
}

/// Whether the object is a model (`ON MODEL m`), which sqlparser cannot read.
fn on_a_model(parser: &Parser) -> bool {
    let mut i = 0;
    loop {
        match parser.peek_nth_token(i).token {
            Token::EOF | Token::SemiColon => return false,
            Token::Word(w) if w.keyword == Keyword::ON && w.quote_style.is_none() => {
                return matches!(
                    parser.peek_nth_token(i + 1).token,
                    Token::Word(m) if m.value.eq_ignore_ascii_case("MODEL") && m.quote_style.is_none()
                );
            }
            _ => i += 1,
        }
    }
}

/// `GRANT USAGE | ALL [PRIVILEGES] ON MODEL m [, …] TO role [, …] [WITH
/// GRANT OPTION]` and its REVOKE; and `GRANT CREATE MODEL [ON DATABASE
/// d] TO roles`, the right to make models (a privilege of the database,
/// as CREATE is for schemas).
#[derive(Debug, Clone, PartialEq)]
pub struct GrantOnModel {
    privileges: ast::Privileges,
    /// Empty for CREATE MODEL.
    models: Vec<String>,
    create: bool,
    grantees: Vec<ast::Grantee>,
    grant_option: bool,
    revoke: bool,
    cascade: bool,
}

fn parse_model_grant(
    parser: &mut Parser,
    revoke: bool,
    grant_option: bool,
) -> std::result::Result<GrantOnModel, ParserError> {
    let privileges = parse_privileges(parser)?;
    parser.expect_keyword(Keyword::ON)?;
    super::parser::expect_word(parser, "MODEL")?;
    let models = parser.parse_comma_separated(|p| {
        p.parse_identifier()
            .map(|i| crate::ml::registry::normalize(&normalize(&i)))
    })?;
    let (grantees, grant_option, cascade) = parse_grantees(parser, revoke, grant_option)?;
    Ok(GrantOnModel {
        privileges,
        models,
        create: false,
        grantees,
        grant_option,
        revoke,
        cascade,
    })
}

/// `CREATE MODEL [ON DATABASE d] TO|FROM roles …`, GRANT or REVOKE read.
fn parse_create_model_grant(
    parser: &mut Parser,
    revoke: bool,
    grant_option: bool,
) -> std::result::Result<GrantOnModel, ParserError> {
    parser.expect_keyword(Keyword::CREATE)?;
    super::parser::expect_word(parser, "MODEL")?;
    if parser.parse_keywords(&[Keyword::ON, Keyword::DATABASE]) {
        let database = normalize(&parser.parse_identifier()?);
        if database != crate::catalog::DATABASE {
            return Err(ParserError::ParserError(format!(
                "database \"{database}\" does not exist"
            )));
        }
    }
    let (grantees, grant_option, cascade) = parse_grantees(parser, revoke, grant_option)?;
    Ok(GrantOnModel {
        privileges: ast::Privileges::Actions(vec![]),
        models: vec![],
        create: true,
        grantees,
        grant_option,
        revoke,
        cascade,
    })
}

/// `TO|FROM roles [WITH GRANT OPTION] [CASCADE|RESTRICT]`: the grantees,
/// whether the grant option is meant, and CASCADE.
pub(super) fn parse_grantees(
    parser: &mut Parser,
    revoke: bool,
    grant_option: bool,
) -> std::result::Result<(Vec<ast::Grantee>, bool, bool), ParserError> {
    parser.expect_keyword(if revoke { Keyword::FROM } else { Keyword::TO })?;
    let grantees = parser.parse_comma_separated(|p| {
        if p.parse_keyword(Keyword::PUBLIC) {
            return Ok(ast::Grantee {
                grantee_type: ast::GranteesType::Public,
                name: None,
            });
        }
        let _ = p.parse_keyword(Keyword::GROUP) || p.parse_keyword(Keyword::ROLE);
        let ident = p.parse_identifier()?;
        Ok(ast::Grantee {
            grantee_type: ast::GranteesType::None,
            name: Some(ast::GranteeName::ObjectName(ast::ObjectName::from(vec![
                ident,
            ]))),
        })
    })?;
    let with_grant_option =
        !revoke && parser.parse_keywords(&[Keyword::WITH, Keyword::GRANT, Keyword::OPTION]);
    let cascade = revoke && parser.parse_keyword(Keyword::CASCADE);
    let _ = parser.parse_keyword(Keyword::RESTRICT);
    Ok((grantees, grant_option || with_grant_option, cascade))
}

impl GrantOnModel {
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        notices: &Notices,
    ) -> Result<Outcome> {
        let change = Change {
            privileges: &self.privileges,
            objects: if self.create {
                Objects::ModelCreation
            } else {
                Objects::Models(&self.models)
            },
            grantees: &self.grantees,
            grant_option: self.grant_option,
            revoke: self.revoke,
            cascade: self.cascade,
        };
        change.run(engine, ctx, None, notices).await
    }
}

fn parse_role_grant(
    parser: &mut Parser,
    revoke: bool,
) -> std::result::Result<GrantRole, ParserError> {
    let role_name = |parser: &mut Parser| parser.parse_identifier().map(|i| normalize(&i));
    let roles = parser.parse_comma_separated(role_name)?;
    if revoke {
        parser.expect_keyword(Keyword::FROM)?;
    } else {
        parser.expect_keyword(Keyword::TO)?;
    }
    let members = parser.parse_comma_separated(|p| {
        let _ = p.parse_keyword(Keyword::GROUP);
        role_name(p)
    })?;
    if parser.parse_keywords(&[Keyword::WITH, Keyword::ADMIN, Keyword::OPTION]) {
        return Err(ParserError::ParserError(
            "WITH ADMIN OPTION is not supported: only superusers and CREATEROLE roles grant roles"
                .into(),
        ));
    }
    let _ = parser.parse_keyword(Keyword::CASCADE) || parser.parse_keyword(Keyword::RESTRICT);
    Ok(GrantRole {
        roles,
        members,
        revoke,
    })
}

impl GrantRole {
    /// Add or remove the memberships. Superusers and CREATEROLE roles
    /// manage them; a superuser role is granted by superusers only, and a
    /// role never becomes a member of itself, directly or not.
    pub fn execute(self, engine: &Engine, ctx: &SessionContext) -> Result<Outcome> {
        let who = identity(engine, ctx);
        let roles = &engine.roles;
        let may_manage = who.superuser || roles.created(&who.name).is_some_and(|r| r.createrole);
        let oid = |name: &str| {
            roles.oid_of(name).ok_or_else(|| {
                BrookError::UndefinedObject(format!("role \"{name}\" does not exist"))
            })
        };
        let granted: Vec<i32> = self.roles.iter().map(|r| oid(r)).collect::<Result<_>>()?;
        for (name, role) in self.roles.iter().zip(&granted) {
            if !may_manage || (roles.is_superuser(name) && !who.superuser) {
                return Err(BrookError::NotAllowed(format!(
                    "permission denied to grant role \"{name}\""
                )));
            }
            let _ = role;
        }
        for member in &self.members {
            oid(member)?;
        }
        roles.change(|created, _| {
            for member in &self.members {
                // A bootstrap role is a superuser: membership adds nothing.
                let Some(entry) = created.iter().position(|r| &r.name == member) else {
                    continue;
                };
                let member_oid = created[entry].oid;
                for (name, role) in self.roles.iter().zip(&granted) {
                    if self.revoke {
                        created[entry].member_of.retain(|m| m != role);
                        continue;
                    }
                    if *role == member_oid || reaches(created, *role, member_oid) {
                        return Err(BrookError::InvalidGrant(format!(
                            "role \"{member}\" is a member of role \"{name}\""
                        )));
                    }
                    if !created[entry].member_of.contains(role) {
                        created[entry].member_of.push(*role);
                    }
                }
            }
            Ok(())
        })?;
        Ok(Outcome::done(if self.revoke {
            "REVOKE ROLE"
        } else {
            "GRANT ROLE"
        }))
    }
}

/// Whether role `from` is, through memberships, a member of `to`.
fn reaches(created: &[crate::catalog::roles::RoleEntry], from: i32, to: i32) -> bool {
    let mut seen = vec![from];
    let mut next = 0;
    while next < seen.len() {
        let oid = seen[next];
        next += 1;
        if oid == to {
            return true;
        }
        if let Some(role) = created.iter().find(|r| r.oid == oid) {
            for parent in &role.member_of {
                if !seen.contains(parent) {
                    seen.push(*parent);
                }
            }
        }
    }
    false
}

/// What a GRANT or REVOKE names: SQL objects, or Brook's models.
#[derive(Clone, Copy)]
enum Objects<'a> {
    Sql(Option<&'a ast::GrantObjects>),
    Models(&'a [String]),
    /// The database, for its CREATE MODEL.
    ModelCreation,
}

/// What one GRANT or REVOKE does to each of its objects.
struct Change<'a> {
    privileges: &'a ast::Privileges,
    objects: Objects<'a>,
    grantees: &'a [ast::Grantee],
    /// GRANT … WITH GRANT OPTION, or REVOKE GRANT OPTION FOR.
    grant_option: bool,
    revoke: bool,
    cascade: bool,
}

impl Grant {
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
        notices: &Notices,
    ) -> Result<Outcome> {
        let g = &self.0;
        if g.granted_by.is_some() || g.as_grantor.is_some() || g.current_grants.is_some() {
            return Err(BrookError::Unsupported("GRANTED BY".into()));
        }
        let change = Change {
            privileges: &g.privileges,
            objects: Objects::Sql(g.objects.as_ref()),
            grantees: &g.grantees,
            grant_option: g.with_grant_option,
            revoke: false,
            cascade: false,
        };
        change.run(engine, ctx, session, notices).await
    }
}

impl Revoke {
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
        notices: &Notices,
    ) -> Result<Outcome> {
        let r = &self.revoke;
        if r.granted_by.is_some() {
            return Err(BrookError::Unsupported("GRANTED BY".into()));
        }
        let change = Change {
            privileges: &r.privileges,
            objects: Objects::Sql(r.objects.as_ref()),
            grantees: &r.grantees,
            grant_option: self.grant_option,
            revoke: true,
            cascade: matches!(r.cascade, Some(ast::CascadeOption::Cascade)),
        };
        change.run(engine, ctx, session, notices).await
    }
}

/// One object a statement names, and what it is called in messages.
struct Target {
    acl: AclTarget,
    kind: ObjectKind,
    /// "table t", "schema s": as errors name it.
    noun: &'static str,
    name: String,
}

impl Change<'_> {
    /// Applies the change and tells the client what was not granted.
    async fn run(
        &self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
        notices: &Notices,
    ) -> Result<Outcome> {
        let code = if self.revoke {
            SqlState::PRIVILEGE_NOT_REVOKED
        } else {
            SqlState::PRIVILEGE_NOT_GRANTED
        };
        for warning in self.apply(engine, ctx, session).await? {
            notices.warn(code, warning);
        }
        Ok(Outcome::done(if self.revoke { "REVOKE" } else { "GRANT" }))
    }

    async fn apply(
        &self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
    ) -> Result<Vec<String>> {
        let who = identity(engine, ctx);
        let targets = self.targets(engine, session).await?;
        let grantees = self.grantee_oids(engine, &who)?;
        let mut planned = vec![];
        let mut warnings = vec![];
        for target in &targets {
            let wanted = self.privileges_for(target)?;
            let acl = match target.kind {
                ObjectKind::Model => {
                    engine.models.registry.acl_of(&target.name).ok_or_else(|| {
                        crate::ml::error::MlError::UndefinedModel(target.name.clone())
                    })?
                }
                _ => engine.catalog.acl_for(session, &target.acl).await?,
            };
            let Some((acl, warning)) = self.changed(&who, target, acl, wanted, &grantees)? else {
                continue;
            };
            warnings.extend(warning);
            if target.kind == ObjectKind::Model {
                // Models live outside the catalog and its transactions.
                engine.models.registry.set_acl(&target.name, acl)?;
                continue;
            }
            planned.push((target.acl.clone(), acl));
        }
        in_transaction(engine, ctx, session, |slot| async move {
            for (target, acl) in planned {
                engine.catalog.stage_acl(&slot, target, acl).await?;
            }
            Ok(())
        })
        .await?;
        Ok(warnings)
    }

    /// `acl` after the statement, as `who` may change it; `None` when
    /// nothing changes. A role with no privilege at all on the object is
    /// refused; one that holds some but cannot grant them is warned, as
    /// PostgreSQL does.
    fn changed(
        &self,
        who: &Identity,
        target: &Target,
        mut acl: Acl,
        wanted: PrivilegeSet,
        grantees: &[i32],
    ) -> Result<Option<(Acl, Option<String>)>> {
        let owner = who.superuser || who.oids.contains(&acl.owner);
        let (held, grantable) = acl.held(target.kind, &who.oids);
        // The owner grants in its own name, as does a superuser for it.
        let (grantor, may_grant) = if owner {
            (acl.owner, wanted)
        } else {
            let mut may = wanted;
            for p in wanted.iter() {
                if !grantable.contains(p) {
                    may.remove(p);
                }
            }
            (who.oid(), may)
        };
        if !owner && held.is_empty() {
            return Err(denied(target));
        }
        let verb = if self.revoke { "revoked" } else { "granted" };
        let warning = (may_grant != wanted).then(|| {
            if may_grant.is_empty() {
                format!("no privileges were {verb} for \"{}\"", target.name)
            } else {
                format!("not all privileges were {verb} for \"{}\"", target.name)
            }
        });
        if may_grant.is_empty() {
            return Ok(Some((acl, warning)));
        }
        for &grantee in grantees {
            if self.revoke {
                let onward = acl.items(target.kind).iter().any(|i| {
                    i.grantor == grantee && may_grant.iter().any(|p| i.privileges.contains(p))
                });
                if onward && !self.cascade {
                    return Err(BrookError::DependentPrivileges);
                }
                acl.revoke(target.kind, grantee, grantor, may_grant, self.grant_option);
                if onward {
                    revoke_onward(&mut acl, target.kind, grantee, may_grant);
                }
            } else {
                acl.grant(target.kind, grantee, grantor, may_grant, self.grant_option);
            }
        }
        Ok(Some((acl, warning)))
    }

    /// The privileges named, checked to fit `target`'s kind.
    fn privileges_for(&self, target: &Target) -> Result<PrivilegeSet> {
        if matches!(self.objects, Objects::ModelCreation) {
            return Ok(PrivilegeSet::of(&[Privilege::CreateModel]));
        }
        privileges_of(
            self.privileges,
            target.kind,
            target.kind.noun(),
            self.revoke,
        )
    }

    /// The grantees' OIDs (PUBLIC: 0); 42704 for a role that does not exist.
    fn grantee_oids(&self, engine: &Engine, who: &Identity) -> Result<Vec<i32>> {
        grantee_oids(engine, who, self.grantees)
    }
    /// The objects named, checked to exist.
    async fn targets(
        &self,
        engine: &Engine,
        session: Option<&SessionTransaction>,
    ) -> Result<Vec<Target>> {
        let catalog = &engine.catalog;
        let schema_of = |name: &ast::ObjectName| -> Result<String> {
            match name.0.as_slice() {
                [part] => part
                    .as_ident()
                    .map(normalize)
                    .ok_or_else(|| BrookError::Syntax(format!("invalid schema name {name}"))),
                _ => Err(BrookError::Syntax(format!("invalid schema name {name}"))),
            }
        };
        let relation = |name: QualifiedName, is_view: bool| Target {
            noun: if is_view { "view" } else { "table" },
            name: name.name.clone(),
            acl: AclTarget::Relation { relation: name },
            kind: ObjectKind::Relation,
        };
        let mut targets = vec![];
        let objects = match self.objects {
            Objects::Sql(objects) => objects,
            Objects::Models(models) => {
                for model in models {
                    if engine.models.registry.acl_of(model).is_none() {
                        return Err(crate::ml::error::MlError::UndefinedModel(model.clone()).into());
                    }
                    targets.push(Target {
                        acl: AclTarget::Database,
                        kind: ObjectKind::Model,
                        noun: "model",
                        name: model.clone(),
                    });
                }
                return Ok(targets);
            }
            Objects::ModelCreation => {
                targets.push(Target {
                    acl: AclTarget::Database,
                    kind: ObjectKind::Database,
                    noun: "database",
                    name: crate::catalog::DATABASE.to_string(),
                });
                return Ok(targets);
            }
        };
        match objects {
            Some(ast::GrantObjects::Tables(names)) | Some(ast::GrantObjects::Views(names)) => {
                for name in names {
                    let name = qualify(name)?;
                    if !catalog.exists_for(session, &name).await {
                        return Err(BrookError::UndefinedTable(name.to_string()));
                    }
                    let is_view = catalog.is_view_for(session, &name).await;
                    targets.push(relation(name, is_view));
                }
            }
            Some(ast::GrantObjects::AllTablesInSchema { schemas }) => {
                for schema in schemas {
                    let schema = schema_of(schema)?;
                    if !catalog.schema_exists_for(session, &schema).await {
                        return Err(BrookError::UndefinedSchema(schema));
                    }
                    for (name, is_view) in catalog.relations_in(session, &schema).await {
                        targets.push(relation(name, is_view));
                    }
                }
            }
            Some(ast::GrantObjects::Schemas(names)) => {
                for name in names {
                    let schema = schema_of(name)?;
                    if !catalog.schema_exists_for(session, &schema).await {
                        return Err(BrookError::UndefinedSchema(schema));
                    }
                    targets.push(Target {
                        acl: AclTarget::Schema {
                            schema: schema.clone(),
                        },
                        kind: ObjectKind::Schema,
                        noun: "schema",
                        name: schema,
                    });
                }
            }
            Some(ast::GrantObjects::Databases(names)) => {
                for name in names {
                    let database = schema_of(name)?;
                    if database != crate::catalog::DATABASE {
                        return Err(BrookError::UndefinedObject(format!(
                            "database \"{database}\" does not exist"
                        )));
                    }
                    targets.push(Target {
                        acl: AclTarget::Database,
                        kind: ObjectKind::Database,
                        noun: "database",
                        name: database,
                    });
                }
            }
            Some(other) => {
                return Err(BrookError::Unsupported(format!("GRANT … ON {other}")));
            }
            None => return Err(BrookError::Unsupported("GRANT without ON".into())),
        }
        Ok(targets)
    }
}

/// The privileges `privileges` names, checked to fit objects of `kind`
/// (called `noun` in the error).
pub(super) fn privileges_of(
    privileges: &ast::Privileges,
    kind: ObjectKind,
    noun: &str,
    revoke: bool,
) -> Result<PrivilegeSet> {
    let all = kind.privileges();
    let actions = match privileges {
        ast::Privileges::All { .. } => return Ok(PrivilegeSet::of(all)),
        ast::Privileges::Actions(actions) => actions,
    };
    let mut set = PrivilegeSet::default();
    for action in actions {
        let privilege = match action {
            ast::Action::Select { columns }
            | ast::Action::Insert { columns }
            | ast::Action::Update { columns }
            | ast::Action::References { columns }
                if columns.is_some() =>
            {
                return Err(BrookError::Unsupported("column privileges".into()));
            }
            ast::Action::Select { .. } => Privilege::Select,
            ast::Action::Insert { .. } => Privilege::Insert,
            ast::Action::Update { .. } => Privilege::Update,
            ast::Action::Delete => Privilege::Delete,
            ast::Action::Truncate => Privilege::Truncate,
            ast::Action::References { .. } => Privilege::References,
            ast::Action::Trigger => Privilege::Trigger,
            ast::Action::Usage => Privilege::Usage,
            ast::Action::Create { obj_type: None } => Privilege::Create,
            // Everyone may connect and make temporary tables: granting
            // either changes nothing; revoking it would be a promise
            // Brook does not keep.
            ast::Action::Connect | ast::Action::Temporary
                if kind == ObjectKind::Database && !revoke =>
            {
                continue;
            }
            other => {
                return Err(BrookError::InvalidGrant(format!(
                    "invalid privilege type {other} for {noun}"
                )));
            }
        };
        if !all.contains(&privilege) {
            return Err(BrookError::InvalidGrant(format!(
                "invalid privilege type {} for {noun}",
                privilege.keyword()
            )));
        }
        set.insert(privilege);
    }
    Ok(set)
}

/// The grantees' OIDs (PUBLIC: 0); 42704 for a role that does not exist.
pub(super) fn grantee_oids(
    engine: &Engine,
    who: &Identity,
    grantees: &[ast::Grantee],
) -> Result<Vec<i32>> {
    grantees
        .iter()
        .map(|grantee| {
            if grantee.grantee_type == ast::GranteesType::Public {
                return Ok(PUBLIC);
            }
            let Some(ast::GranteeName::ObjectName(name)) = &grantee.name else {
                return Err(BrookError::Syntax(format!("invalid grantee {grantee}")));
            };
            let [part] = name.0.as_slice() else {
                return Err(BrookError::Syntax(format!("invalid role name {name}")));
            };
            let ident = part
                .as_ident()
                .ok_or_else(|| BrookError::Syntax(format!("invalid role name {name}")))?;
            role_oid(engine, who, ident)
        })
        .collect()
}

/// The OID of the role `ident` names where a statement lists roles
/// (GRANT's grantees, a policy's TO): PUBLIC (0) for `public`, `who` for
/// `current_user`/`current_role`/`session_user` unquoted; 42704 for a
/// role that does not exist.
pub(super) fn role_oid(engine: &Engine, who: &Identity, ident: &ast::Ident) -> Result<i32> {
    let role = normalize(ident);
    let role = match role.as_str() {
        "public" if ident.quote_style.is_none() => return Ok(PUBLIC),
        "current_user" | "current_role" | "session_user" if ident.quote_style.is_none() => {
            who.name.clone()
        }
        _ => role,
    };
    engine
        .roles
        .oid_of(&role)
        .ok_or_else(|| BrookError::UndefinedObject(format!("role \"{role}\" does not exist")))
}

/// Take back what `grantee` granted on from the privileges it loses.
fn revoke_onward(acl: &mut Acl, kind: ObjectKind, grantee: i32, lost: PrivilegeSet) {
    let onward: Vec<i32> = acl
        .items(kind)
        .iter()
        .filter(|i| i.grantor == grantee)
        .map(|i| i.grantee)
        .collect();
    for next in onward {
        acl.revoke(kind, next, grantee, lost, false);
        revoke_onward(acl, kind, next, lost);
    }
}

fn denied(target: &Target) -> BrookError {
    BrookError::NotAllowed(format!(
        "permission denied for {} {}",
        target.noun, target.name
    ))
}

/// The role an `OWNER TO` names.
pub fn owner_name(owner: &ast::Owner, who: &Identity) -> String {
    match owner {
        ast::Owner::Ident(ident) => normalize(ident),
        _ => who.name.clone(),
    }
}

/// `ALTER TABLE | VIEW | SCHEMA … OWNER TO role`: the object passes to
/// `new_owner`, and the grants the old owner held or made pass with it,
/// as in PostgreSQL. The caller has checked that the session's role owns
/// the object; it must also be able to become the new owner (a member of
/// it), unless it is a superuser.
pub async fn change_owner(
    engine: &Engine,
    ctx: &SessionContext,
    session: Option<&SessionTransaction>,
    target: AclTarget,
    new_owner: &str,
) -> Result<()> {
    let who = identity(engine, ctx);
    let new = engine.roles.oid_of(new_owner).ok_or_else(|| {
        BrookError::UndefinedObject(format!("role \"{new_owner}\" does not exist"))
    })?;
    if !who.superuser && !who.oids.contains(&new) {
        return Err(BrookError::NotAllowed(format!(
            "must be able to SET ROLE \"{new_owner}\""
        )));
    }
    let mut acl = engine.catalog.acl_for(session, &target).await?;
    if acl.owner == new {
        return Ok(());
    }
    acl.reassign(new);
    in_transaction(engine, ctx, session, |slot| async move {
        engine.catalog.stage_acl(&slot, target, acl).await
    })
    .await
}
