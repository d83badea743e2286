//! `ALTER DEFAULT PRIVILEGES [FOR ROLE r] [IN SCHEMA s] GRANT … ON TABLES
//! TO …`, as PostgreSQL keeps it in `pg_default_acl`: the grants every
//! table or view role `r` creates (in `s`, or anywhere) starts with, so
//! that an analyst role can read what a pipeline owner makes tomorrow
//! without a GRANT after each CREATE.

use serde::{Deserialize, Serialize};

use super::acl::{Acl, AclItem, ObjectKind};

/// The default grants of the relations one role creates, in one schema or
/// (`schema: None`) in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultAcl {
    /// The creating role's OID; its grants name it as grantor.
    pub role: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub items: Vec<AclItem>,
}

impl DefaultAcl {
    /// The grants as an [`Acl`] owned by the role, to change with
    /// `grant`/`revoke` (the owner's own privileges are not in it).
    pub fn as_acl(&self) -> Acl {
        Acl {
            owner: self.role,
            items: Some(self.items.clone()),
        }
    }

    /// The ACL `pg_default_acl` shows: for every schema, the one a new
    /// relation starts with (the owner's own privileges first); for one
    /// schema, the grants alone (they are added to the former).
    pub fn shown(&self) -> Acl {
        match self.schema {
            Some(_) => self.as_acl(),
            None => new_relation_acl(std::slice::from_ref(self), self.role, ""),
        }
    }

    /// Whether role `oid` is the creator or a grantee.
    pub fn mentions(&self, oid: i32) -> bool {
        self.role == oid || self.items.iter().any(|i| i.grantee == oid)
    }
}

/// The owner and grants of a table or view `owner` creates in `schema`:
/// the owner's own privileges, then what its default privileges grant
/// (those for every schema, then those for this one).
pub fn new_relation_acl(defaults: &[DefaultAcl], owner: i32, schema: &str) -> Acl {
    let mut acl = Acl::owned_by(owner);
    let applies =
        |d: &&DefaultAcl| d.role == owner && d.schema.as_deref().is_none_or(|s| s == schema);
    for default in defaults.iter().filter(applies) {
        for item in &default.items {
            let kind = ObjectKind::Relation;
            acl.grant(kind, item.grantee, item.grantor, item.privileges, false);
            if !item.grantable.is_empty() {
                acl.grant(kind, item.grantee, item.grantor, item.grantable, true);
            }
        }
    }
    acl
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::privileges::{Privilege, PrivilegeSet};

    #[test]
    fn a_new_relation_gets_the_owners_defaults_for_every_schema_and_its_own() {
        let mut everywhere = DefaultAcl {
            role: 20,
            schema: None,
            items: vec![],
        }
        .as_acl();
        everywhere.grant(
            ObjectKind::Relation,
            30,
            20,
            PrivilegeSet::of(&[Privilege::Select]),
            false,
        );
        let mut in_s = DefaultAcl {
            role: 20,
            schema: Some("s".into()),
            items: vec![],
        }
        .as_acl();
        in_s.grant(
            ObjectKind::Relation,
            40,
            20,
            PrivilegeSet::of(&[Privilege::Insert]),
            true,
        );
        let defaults = vec![
            DefaultAcl {
                role: 20,
                schema: None,
                items: everywhere.items.clone().unwrap(),
            },
            DefaultAcl {
                role: 20,
                schema: Some("s".into()),
                items: in_s.items.clone().unwrap(),
            },
        ];
        let acl = new_relation_acl(&defaults, 20, "s");
        let held = |role: i32| acl.held(ObjectKind::Relation, &[role]);
        assert!(
            held(20).0.contains(Privilege::Delete),
            "the owner keeps all"
        );
        assert_eq!(held(30).0, PrivilegeSet::of(&[Privilege::Select]));
        assert_eq!(held(40).1, PrivilegeSet::of(&[Privilege::Insert]));
        // Elsewhere only the defaults for every schema; another creator none.
        let elsewhere = new_relation_acl(&defaults, 20, "public");
        assert!(elsewhere.held(ObjectKind::Relation, &[40]).0.is_empty());
        assert_eq!(new_relation_acl(&defaults, 21, "s"), Acl::owned_by(21));
    }
}
