//! Resolving SQL names the way Postgres does: unquoted identifiers fold to
//! lower case, a bare table name lives in the `public` schema.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};

use crate::error::{BrookError, Result};

/// The database every session is connected to (Postgres' `current_database()`).
pub const DATABASE: &str = "brook";
/// The schema of unqualified names.
pub const DEFAULT_SCHEMA: &str = "public";

/// A table or view name resolved to its schema.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.schema == DEFAULT_SCHEMA {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

/// Fold an identifier as Postgres does: quoted keeps its case, unquoted is lower-cased.
pub fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// Resolve `t`, `s.t` or `brook.s.t`.
pub fn qualify(name: &ObjectName) -> Result<QualifiedName> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| {
            p.as_ident()
                .map(normalize)
                .ok_or_else(|| BrookError::Syntax(format!("invalid name {name}")))
        })
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [table] => Ok(QualifiedName {
            schema: DEFAULT_SCHEMA.to_string(),
            name: table.clone(),
        }),
        [schema, table] => Ok(QualifiedName {
            schema: schema.clone(),
            name: table.clone(),
        }),
        [db, schema, table] if db == DATABASE => Ok(QualifiedName {
            schema: schema.clone(),
            name: table.clone(),
        }),
        [db, _, _] => Err(BrookError::Unsupported(format!(
            "cross-database references (\"{db}\")"
        ))),
        _ => Err(BrookError::Syntax(format!(
            "improper qualified name: {name}"
        ))),
    }
}

/// A name written as text (`'a."B c".d'`, as `regclass` and `nextval`
/// take it), as `["a", "B c", "d"]` as `["a", "B c", "d"]`: unquoted parts fold to lower case.
pub fn split_text_name(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = name.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            ('"', _) => quoted = !quoted,
            ('.', false) => parts.push(std::mem::take(&mut current)),
            (c, true) => current.push(c),
            (c, false) => current.push(c.to_ascii_lowercase()),
        }
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::split_text_name;

    #[test]
    fn names_split_as_postgres_reads_them() {
        assert_eq!(split_text_name("Orders"), ["orders"]);
        assert_eq!(split_text_name("lab.Readings"), ["lab", "readings"]);
        assert_eq!(split_text_name("\"My T\""), ["My T"]);
        assert_eq!(split_text_name("public.\"a.\"\"b\""), ["public", "a.\"b"]);
    }
}
