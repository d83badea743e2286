//! SCRAM-SHA-256 (RFC 5802, RFC 7677), the server's half, over a
//! PostgreSQL-format verifier: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
//!
//! Why our own: pgwire's SCRAM server checks proofs against the *salted
//! password*, which is enough to log in by itself, so a config file holding it
//! would hold a password. PostgreSQL keeps only StoredKey and ServerKey, from
//! which no proof can be forged; no crate implements the server side over
//! those. Hashing and the client side come from `postgres-protocol`
//! (tokio-postgres' own), which the tests use as the independent peer.
//!
//! Channel binding (SCRAM-SHA-256-PLUS) is not offered; clients that could
//! bind say so with the `y` flag, which is accepted as the RFC asks.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The mechanism name clients select.
pub const MECHANISM: &str = "SCRAM-SHA-256";

/// Iterations for unknown users' stand-in verifiers (PostgreSQL's default).
const ITERATIONS: u32 = 4096;

/// Why an exchange failed. The client only ever learns "password
/// authentication failed"; the detail is for the server log.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("channel binding is not supported")]
    ChannelBinding,
    #[error("the client proof does not match")]
    WrongProof,
}

/// What is stored for a user: enough to check a proof, not enough to make one.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Verifier {
    /// A verifier for `password`, with a fresh random salt (what `brook password` prints).
    pub fn from_password(password: &str) -> Self {
        postgres_protocol::password::scram_sha_256(password.as_bytes())
            .parse()
            .expect("postgres-protocol writes well-formed verifiers")
    }

    /// A stand-in for a user that does not exist, stable per name, so that
    /// the exchange looks the same as for a real user and fails only at the
    /// proof (PostgreSQL does the same: no probing for user names).
    pub fn stand_in(user: &str, secret: &[u8]) -> Self {
        let derive = |label: &[u8]| {
            let mut mac = hmac_sha256(secret, label);
            mac.extend_from_slice(&hmac_sha256(secret, user.as_bytes()));
            Sha256::digest(&mac).to_vec()
        };
        Self {
            iterations: ITERATIONS,
            salt: derive(b"salt")[..16].to_vec(),
            stored_key: derive(b"stored"),
            server_key: derive(b"server"),
        }
    }
}

/// `SCRAM-SHA-256$4096:…` never shows its keys in logs.
impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(SCRAM-SHA-256, redacted)")
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MECHANISM}${}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(&self.stored_key),
            BASE64.encode(&self.server_key)
        )
    }
}

impl FromStr for Verifier {
    type Err = &'static str;

    /// Parse without ever echoing the input: it may be a plaintext password.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const NOT: &str = "not a SCRAM-SHA-256 verifier (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)";
        let rest = text.strip_prefix("SCRAM-SHA-256$").ok_or(NOT)?;
        let (params, keys) = rest.split_once('$').ok_or(NOT)?;
        let (iterations, salt) = params.split_once(':').ok_or(NOT)?;
        let (stored, server) = keys.split_once(':').ok_or(NOT)?;
        let iterations: u32 = iterations.parse().map_err(|_| NOT)?;
        let decode = |s: &str| BASE64.decode(s).map_err(|_| NOT);
        let verifier = Self {
            iterations,
            salt: decode(salt)?,
            stored_key: decode(stored)?,
            server_key: decode(server)?,
        };
        if iterations == 0
            || verifier.salt.is_empty()
            || verifier.stored_key.len() != 32
            || verifier.server_key.len() != 32
        {
            return Err(NOT);
        }
        Ok(verifier)
    }
}

/// The server between its first message and the client's proof.
pub struct Exchange {
    verifier: Verifier,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl Exchange {
    /// Read client-first-message, answer with server-first-message.
    pub fn start(verifier: Verifier, client_first: &[u8]) -> Result<(Self, String), ScramError> {
        let text =
            std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        // gs2-header = cbind-flag "," [authzid] ","
        let mut parts = text.splitn(3, ',');
        let flag = parts.next().ok_or(ScramError::Malformed("empty"))?;
        let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        let bare = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed("bad channel-binding flag")),
        }
        if !authzid.is_empty() {
            return Err(ScramError::Malformed(
                "authorization identities are not supported",
            ));
        }
        let client_nonce = attribute(bare, 'r').ok_or(ScramError::Malformed("no nonce"))?;
        if client_nonce.is_empty() || !client_nonce.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(ScramError::Malformed("bad nonce"));
        }
        let mut ours = [0u8; 18];
        rand::rngs::OsRng.fill_bytes(&mut ours);
        let nonce = format!("{client_nonce}{}", BASE64.encode(ours));
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&verifier.salt),
            verifier.iterations
        );
        let exchange = Self {
            verifier,
            gs2_header: format!("{flag},{authzid},"),
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok((exchange, server_first))
    }

    /// Check client-final-message's proof; on success, the server-final-message.
    pub fn finish(self, client_final: &[u8]) -> Result<String, ScramError> {
        let text =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let binding = attribute(without_proof, 'c').ok_or(ScramError::Malformed("no binding"))?;
        if BASE64.decode(binding).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(ScramError::Malformed(
                "channel binding does not match the header",
            ));
        }
        if attribute(without_proof, 'r') != Some(self.nonce.as_str()) {
            return Err(ScramError::Malformed("nonce does not match"));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        if proof.len() != 32 {
            return Err(ScramError::Malformed("proof has the wrong length"));
        }
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        let stored_key = Sha256::digest(&client_key);
        if !bool::from(stored_key.as_slice().ct_eq(&self.verifier.stored_key)) {
            return Err(ScramError::WrongProof);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

/// The value of `name=` in a comma-separated SCRAM attribute list.
fn attribute(list: &str, name: char) -> Option<&str> {
    list.split(',').find_map(|kv| {
        let mut chars = kv.chars();
        (chars.next() == Some(name) && chars.next() == Some('=')).then(|| &kv[2..])
    })
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    /// Run a whole exchange with tokio-postgres' client implementation.
    fn exchange(verifier: Verifier, password: &str) -> Result<(), ScramError> {
        let mut client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
        let (server, server_first) = Exchange::start(verifier, client.message())?;
        client
            .update(server_first.as_bytes())
            .expect("client accepts server-first");
        let server_final = server.finish(client.message())?;
        client
            .finish(server_final.as_bytes())
            .expect("client verifies the server's signature");
        Ok(())
    }

    #[test]
    fn the_right_password_logs_in_and_the_server_proves_itself() {
        let verifier = Verifier::from_password("correct horse");
        assert_eq!(exchange(verifier, "correct horse"), Ok(()));
    }

    #[test]
    fn a_wrong_password_fails_at_the_proof() {
        let verifier = Verifier::from_password("correct horse");
        assert_eq!(
            exchange(verifier, "battery staple"),
            Err(ScramError::WrongProof)
        );
    }

    #[test]
    fn unknown_users_fail_the_same_way_with_a_stable_salt() {
        let a = Verifier::stand_in("mallory", b"k");
        assert_eq!(a, Verifier::stand_in("mallory", b"k"));
        assert_ne!(a.salt, Verifier::stand_in("eve", b"k").salt);
        assert_eq!(exchange(a, "anything"), Err(ScramError::WrongProof));
    }

    #[test]
    fn verifiers_round_trip_and_never_print_their_keys() {
        let verifier = Verifier::from_password("pw");
        let text = verifier.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"), "{text}");
        assert_eq!(text.parse::<Verifier>().unwrap(), verifier);
        assert!(!format!("{verifier:?}").contains(&text[20..]));
    }

    #[test]
    fn plaintext_and_garbage_are_not_verifiers() {
        for text in [
            "hunter2",
            "SCRAM-SHA-256$x",
            "SCRAM-SHA-256$4096:c2FsdA==$YQ==:YQ==",
            "",
        ] {
            let err = text.parse::<Verifier>().unwrap_err();
            assert!(!text.is_empty() && !err.contains(text) || text.is_empty());
        }
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let verifier = Verifier::from_password("pw");
        for first in [
            &b""[..],
            b"n",
            b"n,,",
            b"x,,n=,r=abc",
            b"p=tls-unique,,n=,r=abc",
            b"\xff",
        ] {
            assert!(
                Exchange::start(verifier.clone(), first).is_err(),
                "{first:?}"
            );
        }
        let (server, _) = Exchange::start(verifier, b"n,,n=,r=abc").unwrap();
        assert!(server.finish(b"c=biws,r=abc,p=AAAA").is_err());
    }

    mod randomized {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(1000)))]

            /// Whatever a client sends, the exchange answers or refuses.
            #[test]
            fn arbitrary_client_messages_never_panic(
                first in prop::collection::vec(any::<u8>(), 0..64),
                last in prop::collection::vec(any::<u8>(), 0..128),
                flag in prop::sample::select(vec!["n,,", "y,,", "p=x,,", "n,a=u,", ""]),
            ) {
                let verifier = Verifier::stand_in("u", b"k");
                let mut message = flag.as_bytes().to_vec();
                message.extend_from_slice(b"n=,r=");
                message.extend_from_slice(&first);
                if let Ok((exchange, _)) = Exchange::start(verifier, &message) {
                    prop_assert!(exchange.finish(&last).is_err());
                }
            }
        }
    }
}
