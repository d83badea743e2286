//! An object's owner and access control list, as PostgreSQL keeps them:
//! `aclitem`s of grantee, privileges (with or without GRANT OPTION) and
//! grantor, each role named by OID so that `ALTER ROLE … RENAME` changes
//! nothing here. No list (`None`) means the object kind's default, what
//! PostgreSQL's `acldefault` answers: every privilege for the owner.

use serde::{Deserialize, Serialize};

/// The OID a grant to `PUBLIC` names (as in PostgreSQL's aclitem).
pub const PUBLIC: i32 = 0;

/// The bootstrap superuser's OID (`catalog::roles::role_oid(0)`): the
/// owner of everything made before Brook recorded owners.
pub const BOOTSTRAP_OWNER: i32 = 10;

/// One privilege. The letters are PostgreSQL's (`aclitem` text, `\dp`),
/// in its bit order, which is also the order they print in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    Insert,
    Select,
    Update,
    Delete,
    Truncate,
    References,
    Trigger,
    Usage,
    Create,
    /// Brook's own: the right to make models (`GRANT CREATE MODEL`), a
    /// privilege of the database.
    CreateModel,
}

impl Privilege {
    pub const ALL: [Privilege; 10] = [
        Privilege::Insert,
        Privilege::Select,
        Privilege::Update,
        Privilege::Delete,
        Privilege::Truncate,
        Privilege::References,
        Privilege::Trigger,
        Privilege::Usage,
        Privilege::Create,
        Privilege::CreateModel,
    ];

    pub fn letter(self) -> char {
        match self {
            Privilege::Insert => 'a',
            Privilege::Select => 'r',
            Privilege::Update => 'w',
            Privilege::Delete => 'd',
            Privilege::Truncate => 'D',
            Privilege::References => 'x',
            Privilege::Trigger => 't',
            Privilege::Usage => 'U',
            Privilege::Create => 'C',
            Privilege::CreateModel => 'M',
        }
    }

    fn from_letter(letter: char) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.letter() == letter)
    }

    /// The SQL keyword (`information_schema.table_privileges`).
    pub fn keyword(self) -> &'static str {
        match self {
            Privilege::Insert => "INSERT",
            Privilege::Select => "SELECT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::Truncate => "TRUNCATE",
            Privilege::References => "REFERENCES",
            Privilege::Trigger => "TRIGGER",
            Privilege::Usage => "USAGE",
            Privilege::Create => "CREATE",
            Privilege::CreateModel => "CREATE MODEL",
        }
    }

    /// The privilege a keyword names (case-insensitive).
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.keyword().eq_ignore_ascii_case(word))
    }
}

/// What kind of object an ACL guards: which privileges it can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A table or a view.
    Relation,
    Schema,
    Database,
    Sequence,
    /// A model of the ML registry: USAGE lets a role PREDICT with it.
    Model,
}

impl ObjectKind {
    /// The privileges an object of this kind can be granted, in order
    /// (what `GRANT ALL` gives).
    pub fn privileges(self) -> &'static [Privilege] {
        use Privilege::*;
        match self {
            ObjectKind::Relation => &[
                Insert, Select, Update, Delete, Truncate, References, Trigger,
            ],
            ObjectKind::Schema => &[Usage, Create],
            ObjectKind::Database => &[Create, CreateModel],
            ObjectKind::Sequence => &[Select, Update, Usage],
            ObjectKind::Model => &[Usage],
        }
    }

    /// The kind's name in "invalid privilege type X for table" errors.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Relation => "table",
            ObjectKind::Schema => "schema",
            ObjectKind::Database => "database",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Model => "model",
        }
    }
}

/// A set of privileges, as the letters PostgreSQL prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PrivilegeSet(u16);

impl PrivilegeSet {
    pub fn of(privileges: &[Privilege]) -> Self {
        let mut set = Self::default();
        for p in privileges {
            set.insert(*p);
        }
        set
    }

    fn bit(p: Privilege) -> u16 {
        1 << (p as u16)
    }

    pub fn insert(&mut self, p: Privilege) {
        self.0 |= Self::bit(p);
    }

    pub fn remove(&mut self, p: Privilege) {
        self.0 &= !Self::bit(p);
    }

    pub fn contains(self, p: Privilege) -> bool {
        self.0 & Self::bit(p) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Privilege> {
        Privilege::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    fn letters(self) -> String {
        self.iter().map(Privilege::letter).collect()
    }

    fn from_letters(letters: &str) -> Self {
        let mut set = Self::default();
        for p in letters.chars().filter_map(Privilege::from_letter) {
            set.insert(p);
        }
        set
    }
}

impl Serialize for PrivilegeSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.letters())
    }
}

impl<'de> Deserialize<'de> for PrivilegeSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let letters = String::deserialize(d)?;
        Ok(Self::from_letters(&letters))
    }
}

/// One grant: `grantee=privileges/grantor`, the grantable ones starred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclItem {
    /// The role granted to ([`PUBLIC`]: everyone).
    pub grantee: i32,
    pub grantor: i32,
    pub privileges: PrivilegeSet,
    /// Those of `privileges` held WITH GRANT OPTION.
    #[serde(default, skip_serializing_if = "PrivilegeSet::is_empty")]
    pub grantable: PrivilegeSet,
}

/// An object's owner and grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    #[serde(default = "bootstrap_owner")]
    pub owner: i32,
    /// `None`: the default, every privilege for the owner (PostgreSQL's
    /// NULL `relacl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<AclItem>>,
}

fn bootstrap_owner() -> i32 {
    BOOTSTRAP_OWNER
}

impl Default for Acl {
    fn default() -> Self {
        Self::owned_by(BOOTSTRAP_OWNER)
    }
}

impl Acl {
    pub fn owned_by(owner: i32) -> Self {
        Self { owner, items: None }
    }

    pub fn is_default(&self) -> bool {
        self.items.is_none()
    }

    /// The grants in force: the explicit list, or the kind's default.
    pub fn items(&self, kind: ObjectKind) -> Vec<AclItem> {
        match &self.items {
            Some(items) => items.clone(),
            None => default_items(kind, self.owner),
        }
    }

    /// The privileges the roles `roles` (a role, the roles it is a member
    /// of, and [`PUBLIC`]) hold on the object, and which they may grant.
    pub fn held(&self, kind: ObjectKind, roles: &[i32]) -> (PrivilegeSet, PrivilegeSet) {
        let mut held = PrivilegeSet::default();
        let mut grantable = PrivilegeSet::default();
        for item in self.items(kind) {
            if roles.contains(&item.grantee) {
                held.0 |= item.privileges.0;
                grantable.0 |= item.grantable.0;
            }
        }
        (held, grantable)
    }

    /// Grant `privileges` to `grantee`, recorded as granted by `grantor`.
    pub fn grant(
        &mut self,
        kind: ObjectKind,
        grantee: i32,
        grantor: i32,
        privileges: PrivilegeSet,
        with_grant_option: bool,
    ) {
        let mut items = self.items(kind);
        match items
            .iter_mut()
            .find(|i| i.grantee == grantee && i.grantor == grantor)
        {
            Some(item) => {
                item.privileges.0 |= privileges.0;
                if with_grant_option {
                    item.grantable.0 |= privileges.0;
                }
            }
            None => items.push(AclItem {
                grantee,
                grantor,
                privileges,
                grantable: if with_grant_option {
                    privileges
                } else {
                    PrivilegeSet::default()
                },
            }),
        }
        self.items = Some(items);
    }

    /// Revoke `privileges` granted to `grantee` by `grantor` (or, with
    /// `grant_option_only`, only the right to grant them on).
    pub fn revoke(
        &mut self,
        kind: ObjectKind,
        grantee: i32,
        grantor: i32,
        privileges: PrivilegeSet,
        grant_option_only: bool,
    ) {
        let mut items = self.items(kind);
        for item in items
            .iter_mut()
            .filter(|i| i.grantee == grantee && i.grantor == grantor)
        {
            item.grantable.0 &= !privileges.0;
            if !grant_option_only {
                item.privileges.0 &= !privileges.0;
            }
        }
        items.retain(|i| !i.privileges.is_empty());
        self.items = Some(items);
    }

    /// The object passes to `new`: it owns it, and what the old owner was
    /// granted or granted is the new owner's.
    pub fn reassign(&mut self, new: i32) {
        let old = self.owner;
        self.owner = new;
        if let Some(items) = &mut self.items {
            for item in items.iter_mut() {
                if item.grantee == old {
                    item.grantee = new;
                }
                if item.grantor == old {
                    item.grantor = new;
                }
            }
        }
    }

    /// Whether any grant names `role`.
    pub fn mentions(&self, role: i32) -> bool {
        self.items
            .iter()
            .flatten()
            .any(|i| i.grantee == role || i.grantor == role)
    }

    /// The list as PostgreSQL prints an `aclitem[]`, roles named by
    /// `name_of`: `{owner=arwdDxt/owner,reader=r/owner,=U/owner}`. `None`
    /// for the default (a NULL column, as PostgreSQL shows it).
    pub fn to_text(&self, name_of: &dyn Fn(i32) -> String) -> Option<Vec<String>> {
        let items = self.items.as_ref()?;
        Some(
            items
                .iter()
                .map(|item| {
                    let grantee = match item.grantee {
                        PUBLIC => String::new(),
                        oid => quote_role(&name_of(oid)),
                    };
                    let privileges: String = item
                        .privileges
                        .iter()
                        .map(|p| {
                            if item.grantable.contains(p) {
                                format!("{}*", p.letter())
                            } else {
                                p.letter().to_string()
                            }
                        })
                        .collect();
                    format!(
                        "{grantee}={privileges}/{}",
                        quote_role(&name_of(item.grantor))
                    )
                })
                .collect(),
        )
    }
}

/// A role name as an aclitem prints it: double-quoted when it is not a
/// plain lower-case identifier.
fn quote_role(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// What `acldefault` answers: the owner holds every privilege of the kind
/// (with grant option, which an owner always has).
fn default_items(kind: ObjectKind, owner: i32) -> Vec<AclItem> {
    let all = PrivilegeSet::of(kind.privileges());
    vec![AclItem {
        grantee: owner,
        grantor: owner,
        privileges: all,
        grantable: PrivilegeSet::default(),
    }]
}

/// The grants `public` has in a new PostgreSQL 15 database: its owner
/// may use it and create in it, everyone else may only use it.
pub fn public_schema_acl(owner: i32) -> Acl {
    Acl {
        owner,
        items: Some(vec![
            AclItem {
                grantee: owner,
                grantor: owner,
                privileges: PrivilegeSet::of(&[Privilege::Usage, Privilege::Create]),
                grantable: PrivilegeSet::default(),
            },
            AclItem {
                grantee: PUBLIC,
                grantor: owner,
                privileges: PrivilegeSet::of(&[Privilege::Usage]),
                grantable: PrivilegeSet::default(),
            },
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(oid: i32) -> String {
        match oid {
            10 => "brook".into(),
            17000 => "reader".into(),
            17001 => "Mixed Case".into(),
            o => o.to_string(),
        }
    }

    #[test]
    fn grants_print_as_postgresql_prints_them() {
        let mut acl = Acl::owned_by(10);
        assert_eq!(acl.to_text(&names), None);
        acl.grant(
            ObjectKind::Relation,
            17000,
            10,
            PrivilegeSet::of(&[Privilege::Select, Privilege::Insert]),
            false,
        );
        acl.grant(
            ObjectKind::Relation,
            PUBLIC,
            10,
            PrivilegeSet::of(&[Privilege::Select]),
            true,
        );
        acl.grant(
            ObjectKind::Relation,
            17001,
            10,
            PrivilegeSet::of(&[Privilege::Update]),
            false,
        );
        assert_eq!(
            acl.to_text(&names).unwrap(),
            vec![
                "brook=arwdDxt/brook",
                "reader=ar/brook",
                "=r*/brook",
                "\"Mixed Case\"=w/brook"
            ]
        );
    }

    #[test]
    fn revoking_everything_from_a_grantee_removes_its_item() {
        let mut acl = Acl::owned_by(10);
        let select = PrivilegeSet::of(&[Privilege::Select]);
        acl.grant(ObjectKind::Relation, 17000, 10, select, true);
        acl.revoke(ObjectKind::Relation, 17000, 10, select, true);
        assert_eq!(
            acl.held(ObjectKind::Relation, &[17000, PUBLIC]).1,
            PrivilegeSet::default()
        );
        assert!(
            acl.held(ObjectKind::Relation, &[17000])
                .0
                .contains(Privilege::Select)
        );
        acl.revoke(ObjectKind::Relation, 17000, 10, select, false);
        assert!(!acl.mentions(17000));
        assert!(
            acl.held(ObjectKind::Relation, &[10])
                .0
                .contains(Privilege::Truncate)
        );
    }

    #[test]
    fn the_stored_form_is_letters() {
        let mut acl = Acl::owned_by(17000);
        acl.grant(
            ObjectKind::Schema,
            PUBLIC,
            17000,
            PrivilegeSet::of(&[Privilege::Usage]),
            false,
        );
        let json = serde_json::to_string(&acl).unwrap();
        assert!(json.contains("\"privileges\":\"UC\""), "{json}");
        assert_eq!(serde_json::from_str::<Acl>(&json).unwrap(), acl);
        let legacy: Acl = serde_json::from_str("{}").unwrap();
        assert_eq!(legacy, Acl::owned_by(BOOTSTRAP_OWNER));
    }
}
