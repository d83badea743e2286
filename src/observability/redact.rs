//! Statement texts with their passwords hidden, for what others may read
//! (`information_schema.sessions`, logs): `CREATE ROLE … PASSWORD 'x'` and
//! `ALTER ROLE … PASSWORD 'x'` show `PASSWORD '********'`. PostgreSQL
//! shows the text as sent (its docs warn about it); a server several teams
//! share should not hand one role another's password.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// `sql` with every string after the word PASSWORD replaced by
/// `'********'`. A text that does not tokenize is shown only up to its
/// first PASSWORD word.
pub fn secrets_hidden(sql: &str) -> String {
    if !sql.to_ascii_uppercase().contains("PASSWORD") {
        return sql.to_string();
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        let cut = sql
            .to_ascii_uppercase()
            .find("PASSWORD")
            .unwrap_or(sql.len());
        return format!("{}PASSWORD …", &sql[..cut]);
    };
    let mut out = String::with_capacity(sql.len());
    let mut after_password = false;
    for token in tokens {
        let is_string = matches!(
            token,
            Token::SingleQuotedString(_)
                | Token::DollarQuotedString(_)
                | Token::EscapedStringLiteral(_)
                | Token::NationalStringLiteral(_)
                | Token::UnicodeStringLiteral(_)
        );
        if after_password && is_string {
            out.push_str("'********'");
            after_password = false;
            continue;
        }
        match &token {
            Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab) => {}
            Token::Word(w) if w.value.eq_ignore_ascii_case("PASSWORD") => after_password = true,
            _ => after_password = false,
        }
        out.push_str(&token.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::secrets_hidden;

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        assert_eq!(
            secrets_hidden(
                "CREATE ROLE app LOGIN PASSWORD 'it''s secret' VALID UNTIL '2030-01-01'"
            ),
            "CREATE ROLE app LOGIN PASSWORD '********' VALID UNTIL '2030-01-01'"
        );
        assert_eq!(
            secrets_hidden("alter role app with password $$x$$;  select 1"),
            "alter role app with password '********';  select 1"
        );
        assert_eq!(secrets_hidden("SELECT 'password'"), "SELECT 'password'");
        assert_eq!(
            secrets_hidden("ALTER ROLE app PASSWORD 'unterminated"),
            "ALTER ROLE app PASSWORD …"
        );
    }
}
