//! Which librdkafka settings a pipeline's `CONFIG` and `CREDENTIALS` may set.
//!
//! librdkafka runs inside the server process, and some of its settings load
//! code or run commands as the server's user: `plugin.library.paths` and
//! `ssl.engine.location` load shared objects, `ssl.providers` loads OpenSSL
//! providers, `sasl.kerberos.kinit.cmd` runs a shell command, and every
//! `*.location` reads a file of the server's. A SQL user must not reach any of
//! them, so the settings pass an allow-list rather than a deny-list: a key
//! librdkafka adds in a later release is refused until it is judged here.
//! Brook's own settings (`bootstrap.servers`, `group.id`, offset handling)
//! are not the user's to change either: offsets live with the table's data.

use super::error::PipelineError;

/// Exact keys a pipeline may set: the security protocol, SASL logins,
/// certificates given inline as PEM, and fetch/session tuning.
const ALLOWED: &[&str] = &[
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.kerberos.service.name",
    "sasl.kerberos.principal",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.scope",
    "sasl.oauthbearer.extensions",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.oauthbearer.method",
    "ssl.ca.pem",
    "ssl.certificate.pem",
    "ssl.key.pem",
    "ssl.key.password",
    "ssl.cipher.suites",
    "ssl.curves.list",
    "ssl.sigalgs.list",
    "ssl.endpoint.identification.algorithm",
    "enable.ssl.certificate.verification",
    "client.id",
    "client.rack",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.wait.max.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.error.backoff.ms",
    "fetch.queue.backoff.ms",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "receive.message.max.bytes",
    "message.max.bytes",
    "isolation.level",
    "check.crcs",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "socket.timeout.ms",
    "socket.keepalive.enable",
    "socket.connection.setup.timeout.ms",
    "socket.receive.buffer.bytes",
    "socket.send.buffer.bytes",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "metadata.max.age.ms",
    "topic.metadata.refresh.interval.ms",
    "api.version.request",
    "api.version.request.timeout.ms",
    "broker.version.fallback",
    "broker.address.family",
    "statistics.interval.ms",
];

/// Why `key` is refused, for the error the user sees.
fn reason(key: &str) -> &'static str {
    match key {
        "bootstrap.servers" | "metadata.broker.list" => {
            "the brokers come from the pipeline's source ('host:port/topic') or the server's --kafka"
        }
        "group.id"
        | "enable.auto.commit"
        | "enable.auto.offset.store"
        | "auto.offset.reset"
        | "enable.partition.eof"
        | "group.instance.id" => {
            "Brook manages the consumer's group and offsets itself (they are stored with the table)"
        }
        k if k.ends_with(".location") => {
            "file paths of the server are not reachable from SQL; give the certificate inline with the matching *.pem setting"
        }
        _ => {
            "it is not on the list of settings a pipeline may change (it could load code or read files as the server)"
        }
    }
}

/// Refuse every key of `settings` that is not on the allow-list, naming it
/// (SQLSTATE 42501). `clause` is `CONFIG` or `CREDENTIALS`.
pub fn check<'a>(
    clause: &str,
    settings: impl IntoIterator<Item = &'a String>,
) -> Result<(), PipelineError> {
    for key in settings {
        let normalized = key.trim().to_ascii_lowercase();
        if !ALLOWED.contains(&normalized.as_str()) {
            return Err(PipelineError::Forbidden(format!(
                "permission denied to set Kafka client setting \"{key}\" in {clause}: {}",
                reason(&normalized)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn code_loading_and_file_settings_are_refused() {
        for key in [
            "plugin.library.paths",
            "ssl.engine.location",
            "ssl.providers",
            "sasl.kerberos.kinit.cmd",
            "sasl.kerberos.keytab",
            "ssl.ca.location",
            "bootstrap.servers",
            "Bootstrap.Servers",
            " plugin.library.paths",
            "group.id",
        ] {
            let err = check("CONFIG", &keys(&[key])).unwrap_err();
            assert_eq!(err.sqlstate(), "42501", "{key}");
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn tuning_and_logins_pass() {
        check(
            "CONFIG",
            &keys(&["security.protocol", "sasl.mechanisms", "fetch.min.bytes"]),
        )
        .unwrap();
        check("CREDENTIALS", &keys(&["sasl.username", "sasl.password"])).unwrap();
    }
}
