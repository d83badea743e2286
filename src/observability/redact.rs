//! Secrets kept out of what others may read (`information_schema.sessions`,
//! `information_schema.pipelines`, logs): `CREATE ROLE … PASSWORD 'x'` shows
//! `PASSWORD '********'`, a pipeline's `CREDENTIALS '…'` shows
//! `CREDENTIALS '********'`, and the secret settings of its `CONFIG` (a
//! SASL password put there rather than in CREDENTIALS) show `********`.
//! PostgreSQL shows statement texts as sent (its docs warn about it); a
//! server several teams share should not hand one role another's secrets.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// What a secret is shown as.
pub const HIDDEN: &str = "********";

/// librdkafka settings whose values are secrets.
const SECRET_SETTINGS: &[&str] = &[
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "ssl.key.pem",
    "ssl.key.password",
];

/// Whether the value of librdkafka setting `key` is a secret.
pub fn is_secret_setting(key: &str) -> bool {
    SECRET_SETTINGS.contains(&key.to_ascii_lowercase().as_str())
}

/// A `CONFIG` JSON object with its secret settings' values hidden; `None`
/// for a text that is no JSON object.
fn config_hidden(json: &str) -> Option<String> {
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).ok()?;
    for (key, value) in object.iter_mut() {
        if is_secret_setting(key) {
            *value = serde_json::Value::String(HIDDEN.to_string());
        }
    }
    serde_json::to_string(&object).ok()
}

/// The words after which a string is a secret (or, for CONFIG, may hold one).
const MARKERS: &[&str] = &["PASSWORD", "CREDENTIALS", "CONFIG"];

/// `sql` with every string after the word PASSWORD or CREDENTIALS replaced
/// by `'********'` and the secret settings of a CONFIG string hidden. A
/// text that does not tokenize is shown only up to its first such word.
pub fn secrets_hidden(sql: &str) -> String {
    let upper = sql.to_ascii_uppercase();
    let Some(first) = MARKERS.iter().filter_map(|m| upper.find(m)).min() else {
        return sql.to_string();
    };
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return format!("{}…", &sql[..first]);
    };
    let mut out = String::with_capacity(sql.len());
    let mut after: Option<&str> = None;
    for token in tokens {
        let is_string = matches!(
            token,
            Token::SingleQuotedString(_)
                | Token::DollarQuotedString(_)
                | Token::EscapedStringLiteral(_)
                | Token::NationalStringLiteral(_)
                | Token::UnicodeStringLiteral(_)
        );
        if let (Some(marker), true) = (after, is_string) {
            let shown = match (&token, marker) {
                (Token::SingleQuotedString(json), "CONFIG") => config_hidden(json),
                _ => None,
            };
            match shown {
                Some(json) => out.push_str(&Token::SingleQuotedString(json).to_string()),
                None => out.push_str(&format!("'{HIDDEN}'")),
            }
            after = None;
            continue;
        }
        match &token {
            Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab) => {}
            Token::Word(w) => {
                after = MARKERS
                    .iter()
                    .copied()
                    .find(|m| w.value.eq_ignore_ascii_case(m));
            }
            _ => after = None,
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
            "ALTER ROLE app …"
        );
        assert_eq!(
            secrets_hidden(
                "CREATE PIPELINE p AS LOAD DATA KAFKA 'h:9/t' \
                 CONFIG '{\"security.protocol\": \"SASL_SSL\", \"sasl.password\": \"s3cret\"}' \
                 CREDENTIALS '{\"sasl.password\": \"s3cret\"}' INTO TABLE t"
            ),
            "CREATE PIPELINE p AS LOAD DATA KAFKA 'h:9/t' \
             CONFIG '{\"sasl.password\":\"********\",\"security.protocol\":\"SASL_SSL\"}' \
             CREDENTIALS '********' INTO TABLE t"
        );
    }
}
