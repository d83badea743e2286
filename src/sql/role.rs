//! `CREATE ROLE | USER`, `ALTER ROLE` and `DROP ROLE`: the roles kept in
//! the data directory (catalog::roles). Only a superuser manages roles
//! (PostgreSQL lets CREATEROLE roles do it too; Brook does not yet). A
//! password is kept only as its SCRAM-SHA-256 verifier: a verifier given
//! in PostgreSQL's format (`SCRAM-SHA-256$…`, as pg_dumpall writes) is
//! kept as it is, any other text is hashed here.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, AlterRoleOperation, Expr, Ident, ObjectName, Password, ResetConfig, RoleOption,
    SetConfigValue, Value,
};

use super::outcome::Outcome;
use crate::catalog::names::normalize;
use crate::catalog::roles::{RoleEntry, Roles};
use crate::engine::Engine;
use crate::error::{BrookError, Result};

/// `CREATE ROLE` (or `CREATE USER`, which is it WITH LOGIN).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRole(pub Box<ast::CreateRole>);

/// `ALTER ROLE name WITH … | RENAME TO …`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterRole {
    pub name: Ident,
    pub operation: Box<AlterRoleOperation>,
}

/// `DROP ROLE [IF EXISTS] name, …`.
#[derive(Debug, Clone, PartialEq)]
pub struct DropRole {
    pub names: Vec<ObjectName>,
    pub if_exists: bool,
}

/// The role the session logged in as.
fn session_role(ctx: &SessionContext) -> String {
    crate::catalog::settings::session_role(ctx.state_ref().read().config().options())
}

/// Refuse unless the session's role is a superuser.
fn superuser_only(roles: &Roles, ctx: &SessionContext, what: &str) -> Result<()> {
    let me = session_role(ctx);
    if roles.is_superuser(&me) {
        return Ok(());
    }
    Err(BrookError::NotAllowed(format!(
        "permission denied to {what}"
    )))
}

fn role_name(name: &ObjectName) -> Result<String> {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map(normalize)
            .ok_or_else(|| BrookError::Syntax(format!("invalid role name {name}"))),
        _ => Err(BrookError::Syntax(format!("invalid role name {name}"))),
    }
}

/// Names PostgreSQL reserves for its own roles.
fn reserved(name: &str) -> Result<()> {
    if name.starts_with("pg_") || name == "public" || name == "none" {
        return Err(BrookError::ReservedName(format!(
            "role name \"{name}\" is reserved"
        )));
    }
    Ok(())
}

impl CreateRole {
    pub fn execute(self, engine: &Engine, ctx: &SessionContext) -> Result<Outcome> {
        superuser_only(&engine.roles, ctx, "create role")?;
        let create = *self.0;
        let mut options = Vec::new();
        let flag = |value: Option<bool>, make: fn(bool) -> RoleOption, to: &mut Vec<RoleOption>| {
            if let Some(value) = value {
                to.push(make(value));
            }
        };
        flag(create.login, RoleOption::Login, &mut options);
        flag(create.inherit, RoleOption::Inherit, &mut options);
        flag(create.superuser, RoleOption::SuperUser, &mut options);
        flag(create.create_db, RoleOption::CreateDB, &mut options);
        flag(create.create_role, RoleOption::CreateRole, &mut options);
        if let Some(password) = create.password {
            options.push(RoleOption::Password(password));
        }
        if let Some(limit) = create.connection_limit {
            options.push(RoleOption::ConnectionLimit(limit));
        }
        if let Some(until) = create.valid_until {
            options.push(RoleOption::ValidUntil(until));
        }
        if !create.in_role.is_empty()
            || !create.in_group.is_empty()
            || !create.role.is_empty()
            || !create.user.is_empty()
            || !create.admin.is_empty()
        {
            return Err(BrookError::Unsupported(
                "role membership (IN ROLE, ROLE, ADMIN) in CREATE ROLE".into(),
            ));
        }
        let names = create
            .names
            .iter()
            .map(role_name)
            .collect::<Result<Vec<_>>>()?;
        engine.roles.change(|created, bootstrap| {
            for name in names {
                reserved(&name)?;
                let exists = bootstrap.contains(&name) || created.iter().any(|r| r.name == name);
                if exists {
                    if create.if_not_exists {
                        continue;
                    }
                    return Err(BrookError::DuplicateObject(format!(
                        "role \"{name}\" already exists"
                    )));
                }
                let mut role = RoleEntry::new(name);
                role.oid = Roles::next_oid(created);
                apply_options(&mut role, &options)?;
                created.push(role);
            }
            Ok(())
        })?;
        Ok(Outcome::done("CREATE ROLE"))
    }
}

/// Set `role`'s attributes as `options` say.
fn apply_options(role: &mut RoleEntry, options: &[RoleOption]) -> Result<()> {
    for option in options {
        match option {
            RoleOption::Login(v) => role.login = *v,
            RoleOption::Inherit(v) => role.inherit = *v,
            RoleOption::SuperUser(v) => role.superuser = *v,
            RoleOption::CreateDB(v) => role.createdb = *v,
            RoleOption::CreateRole(v) => role.createrole = *v,
            RoleOption::Password(Password::NullPassword) => role.password = None,
            RoleOption::Password(Password::Password(expr)) => {
                role.password = Some(verifier_text(&string_of(expr, "PASSWORD")?)?);
            }
            RoleOption::ConnectionLimit(expr) => {
                let text = expr.to_string();
                role.connection_limit = text.parse().map_err(|_| {
                    BrookError::Syntax(format!("CONNECTION LIMIT takes an integer, not {text}"))
                })?;
            }
            RoleOption::ValidUntil(expr) => {
                let text = string_of(expr, "VALID UNTIL")?;
                role.valid_until = Some(valid_until(&text)?);
            }
            RoleOption::BypassRLS(_) | RoleOption::Replication(_) => {
                return Err(BrookError::Unsupported(format!("the {option} attribute")));
            }
        }
    }
    Ok(())
}

/// A string constant's text.
fn string_of(expr: &Expr, clause: &str) -> Result<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Ok(s.clone()),
            Value::DollarQuotedString(s) => Ok(s.value.clone()),
            _ => Err(BrookError::Syntax(format!("{clause} takes a string"))),
        },
        _ => Err(BrookError::Syntax(format!("{clause} takes a string"))),
    }
}

/// The verifier kept for `password`: one already in PostgreSQL's SCRAM
/// format as it is, any other text hashed with a fresh salt. An empty
/// password is refused, as PostgreSQL refuses to log one in.
fn verifier_text(password: &str) -> Result<String> {
    if password.is_empty() {
        return Err(BrookError::InvalidParameter(
            "empty password is not allowed".into(),
        ));
    }
    if password.starts_with("SCRAM-SHA-256$") {
        let verifier: crate::scram::Verifier = password
            .parse()
            .map_err(|e| BrookError::InvalidParameter(format!("invalid SCRAM verifier: {e}")))?;
        return Ok(verifier.to_string());
    }
    Ok(crate::scram::Verifier::from_password(password).to_string())
}

/// `VALID UNTIL 'timestamp'` (or `'infinity'`) as RFC 3339.
fn valid_until(text: &str) -> Result<String> {
    if text.eq_ignore_ascii_case("infinity") {
        return Ok("9999-12-31T23:59:59Z".to_string());
    }
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%#z"))
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                })
                .map(|t| t.and_utc())
        })
        .map_err(|_| {
            BrookError::InvalidText(format!(
                "invalid input syntax for type timestamp with time zone: \"{text}\""
            ))
        })?;
    Ok(parsed.to_rfc3339())
}

impl AlterRole {
    pub fn execute(self, engine: &Engine, ctx: &SessionContext) -> Result<Outcome> {
        let name = normalize(&self.name);
        let me = session_role(ctx);
        // A role may change its own password, as in PostgreSQL.
        let own_password = name == me
            && matches!(self.operation.as_ref(), AlterRoleOperation::WithOptions { options }
                if options.iter().all(|o| matches!(o, RoleOption::Password(_))));
        if !own_password {
            superuser_only(&engine.roles, ctx, "alter role")?;
        }
        if engine.roles.is_bootstrap(&name) {
            return Err(BrookError::NotAllowed(format!(
                "role \"{name}\" is a user of the server's configuration: change it there"
            )));
        }
        if crate::catalog::roles::is_predefined(&name) {
            return Err(BrookError::ReservedName(format!(
                "role name \"{name}\" is reserved"
            )));
        }
        match *self.operation {
            AlterRoleOperation::WithOptions { options } => {
                engine.roles.change(|created, _| {
                    let role = created
                        .iter_mut()
                        .find(|r| r.name == name)
                        .ok_or_else(|| BrookError::UndefinedRole(name.clone()))?;
                    apply_options(role, &options)
                })?;
            }
            AlterRoleOperation::RenameRole { role_name } => {
                let new = normalize(&role_name);
                reserved(&new)?;
                if name == me {
                    return Err(BrookError::NotAllowed(
                        "session user cannot be renamed".into(),
                    ));
                }
                engine.roles.change(|created, bootstrap| {
                    if bootstrap.contains(&new) || created.iter().any(|r| r.name == new) {
                        return Err(BrookError::DuplicateObject(format!(
                            "role \"{new}\" already exists"
                        )));
                    }
                    let role = created
                        .iter_mut()
                        .find(|r| r.name == name)
                        .ok_or_else(|| BrookError::UndefinedRole(name.clone()))?;
                    role.name = new.clone();
                    // PostgreSQL clears an MD5 password on rename; a SCRAM
                    // verifier does not depend on the name and stays.
                    Ok(())
                })?;
            }
            AlterRoleOperation::Set {
                config_name,
                config_value,
                in_database: None,
            } => {
                let setting = role_setting(&config_name.to_string())?;
                let value = match config_value {
                    SetConfigValue::Value(value) => Some(timeout_ms(setting, &value)?),
                    SetConfigValue::Default => None,
                    SetConfigValue::FromCurrent => {
                        return Err(BrookError::Unsupported(
                            "ALTER ROLE … SET … FROM CURRENT".into(),
                        ));
                    }
                };
                engine.roles.change(|created, _| {
                    let role = created
                        .iter_mut()
                        .find(|r| r.name == name)
                        .ok_or_else(|| BrookError::UndefinedRole(name.clone()))?;
                    match value {
                        Some(ms) => role.settings.insert(setting.to_string(), ms),
                        None => role.settings.remove(setting),
                    };
                    Ok(())
                })?;
            }
            AlterRoleOperation::Reset {
                config_name,
                in_database: None,
            } => {
                let only = match config_name {
                    ResetConfig::ALL => None,
                    ResetConfig::ConfigName(n) => Some(role_setting(&n.to_string())?),
                };
                engine.roles.change(|created, _| {
                    let role = created
                        .iter_mut()
                        .find(|r| r.name == name)
                        .ok_or_else(|| BrookError::UndefinedRole(name.clone()))?;
                    match only {
                        Some(setting) => {
                            role.settings.remove(setting);
                        }
                        None => role.settings.clear(),
                    }
                    Ok(())
                })?;
            }
            other => {
                return Err(BrookError::Unsupported(format!("ALTER ROLE … {other}")));
            }
        }
        Ok(Outcome::done("ALTER ROLE"))
    }
}

/// The settings a role may carry (`ALTER ROLE … SET`): the timeouts, which
/// an operator sets per role (an analyst's 30 s, a loader's none).
const ROLE_SETTINGS: [&str; 2] = ["statement_timeout", "idle_in_transaction_session_timeout"];

fn role_setting(name: &str) -> Result<&'static str> {
    let name = name.trim_matches('"').to_ascii_lowercase();
    ROLE_SETTINGS
        .into_iter()
        .find(|s| *s == name)
        .ok_or_else(|| {
            BrookError::Unsupported(format!(
                "ALTER ROLE … SET {name} (a role may carry {})",
                ROLE_SETTINGS.join(" and ")
            ))
        })
}

/// A timeout's value (`'30s'`, `5000`) in milliseconds, as text.
fn timeout_ms(setting: &str, value: &Expr) -> Result<String> {
    let text = match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        other => other.to_string(),
    };
    let duration = crate::config::parse_duration(&text).map_err(|why| {
        BrookError::InvalidParameter(format!(
            "invalid value for parameter \"{setting}\": \"{text}\" ({why})"
        ))
    })?;
    Ok(duration.map_or(0, |d| d.as_millis()).to_string())
}

impl DropRole {
    pub fn execute(self, engine: &Engine, ctx: &SessionContext) -> Result<Outcome> {
        superuser_only(&engine.roles, ctx, "drop role")?;
        let me = session_role(ctx);
        let names = self
            .names
            .iter()
            .map(role_name)
            .collect::<Result<Vec<_>>>()?;
        // A role that owns objects or holds privileges stays (2BP01), as in
        // PostgreSQL: its objects would have no owner, its grants no grantee.
        for name in &names {
            let Some(oid) = engine.roles.created(name).map(|r| r.oid) else {
                continue;
            };
            let mut depends = engine.catalog.privileges().owned_by(oid);
            depends.extend(engine.owned_beyond_catalog(oid));
            depends.extend(engine.catalog.privileges().granted_to(oid));
            if !depends.is_empty() {
                return Err(BrookError::RoleInUse {
                    role: name.clone(),
                    detail: depends.join("\n"),
                });
            }
        }
        engine.roles.change(|created, bootstrap| {
            for name in &names {
                if name == &me {
                    return Err(BrookError::ObjectInUse(
                        "current user cannot be dropped".into(),
                    ));
                }
                if bootstrap.contains(name) {
                    return Err(BrookError::NotAllowed(format!(
                        "role \"{name}\" is a user of the server's configuration: remove it there"
                    )));
                }
                if crate::catalog::roles::is_predefined(name) {
                    return Err(BrookError::ObjectInUse(format!(
                        "cannot drop role {name} because it is required by the database system"
                    )));
                }
                let before = created.len();
                let dropped: Vec<i32> = created
                    .iter()
                    .filter(|r| &r.name == name)
                    .map(|r| r.oid)
                    .collect();
                created.retain(|r| &r.name != name);
                if created.len() == before && !self.if_exists {
                    return Err(BrookError::UndefinedRole(name.clone()));
                }
                // Its members are members of it no more.
                for role in created.iter_mut() {
                    role.member_of.retain(|m| !dropped.contains(m));
                }
            }
            Ok(())
        })?;
        Ok(Outcome::done("DROP ROLE"))
    }
}
