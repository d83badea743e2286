//! `a OPERATOR(pg_catalog.=) b`, PostgreSQL's spelling of an operator by
//! its qualified name, which psql and pg_dump write so that a user's own
//! `=` cannot capture their catalog queries (`pg_dump -t t` matches names
//! with `c.relname OPERATOR(pg_catalog.~) '^(t)$'`). sqlparser reads it in
//! some places but not before `ANY`, so the text is unwrapped to the plain
//! operator first: Brook has no user-defined operators, so the two are the
//! same operator.

use std::borrow::Cow;

/// `sql` with each `OPERATOR([pg_catalog.]op)` outside literals and quoted
/// names replaced by `op`.
pub(super) fn plain_operators(sql: &str) -> Cow<'_, str> {
    if !sql.to_ascii_lowercase().contains("operator(") {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'o' | b'O' if starts_word(bytes, i) => match unwrap_at(sql, i) {
                Some((operator, end)) => {
                    out.push_str(&sql[copied..i]);
                    out.push(' ');
                    out.push_str(operator);
                    out.push(' ');
                    i = end;
                    copied = end;
                }
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    if copied == 0 {
        return Cow::Borrowed(sql);
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    Cow::Owned(out)
}

fn starts_word(bytes: &[u8], i: usize) -> bool {
    i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
}

/// At `start`, `OPERATOR(` [`pg_catalog.`] op `)`: the operator and the
/// index after the `)`.
fn unwrap_at(sql: &str, start: usize) -> Option<(&str, usize)> {
    let rest = sql.get(start..)?;
    let keyword = rest.get(..9)?;
    if !keyword.eq_ignore_ascii_case("operator(") {
        return None;
    }
    let inner_start = start + 9;
    let close = sql[inner_start..].find(')')? + inner_start;
    let inner = sql[inner_start..close].trim();
    let operator = match inner.rsplit_once('.') {
        Some((schema, operator)) if schema.trim().eq_ignore_ascii_case("pg_catalog") => {
            operator.trim()
        }
        Some(_) => return None,
        None => inner,
    };
    let symbols = !operator.is_empty() && operator.chars().all(|c| "+-*/<>=~!@#%^&|`?".contains(c));
    symbols.then_some((operator, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_operators_become_plain() {
        assert_eq!(
            plain_operators(
                "WHERE c.relkind OPERATOR(pg_catalog.=) ANY (x) AND n OPERATOR(~) '^(t)$'"
            ),
            "WHERE c.relkind  =  ANY (x) AND n  ~  '^(t)$'"
        );
        let quoted = "SELECT 'OPERATOR(pg_catalog.=)'";
        assert_eq!(plain_operators(quoted), quoted);
        let other_schema = "SELECT a OPERATOR(myschema.===) b";
        assert_eq!(plain_operators(other_schema), other_schema);
    }
}
