//! Secrets at rest: what a pipeline's `CREDENTIALS` hold is written to the
//! data directory sealed with AES-256-GCM under a key that lives outside
//! it, so that a copy of the data directory (a backup, a volume snapshot, a
//! support bundle) carries no password.
//!
//! The AEAD is `ring`'s, the implementation rustls already links for TLS:
//! nothing of the cipher is written here, only where the key lives. The key
//! file holds 32 random bytes as hex; `brook serve` makes one (mode 0600)
//! the first time, at `secrets_key_file` if the config names one, else
//! beside the data directory (`<data_dir>.secrets.key`).
//!
//! Rotation: name the new key file in `secrets_key_file` and the old one in
//! `previous_secrets_key_files`, and restart. Sealed values the old key
//! opens are sealed again with the new one at start-up; then the old file
//! may be deleted.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{BrookError, Result};

/// How a sealed value begins: the format's version.
const PREFIX: &str = "sealed:v1:";

/// The key that seals new values, and the earlier ones that still open
/// old values.
pub struct SecretsKey {
    current: LessSafeKey,
    previous: Vec<LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(…)")
    }
}

/// Where the key lives when the config names no file: beside the data
/// directory, not in it.
pub fn default_key_file(data_dir: &Path) -> PathBuf {
    let mut name = data_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "brook".into());
    name.push(".secrets.key");
    match data_dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join(name),
        _ => PathBuf::from(name),
    }
}

fn key_from(bytes: &[u8], path: &Path) -> Result<LessSafeKey> {
    let text = std::str::from_utf8(bytes).unwrap_or_default().trim();
    let raw = hex_decode(text).filter(|k| k.len() == 32).ok_or_else(|| {
        BrookError::InvalidText(format!(
            "{}: a secrets key file holds 64 hexadecimal digits (32 bytes)",
            path.display()
        ))
    })?;
    let unbound = UnboundKey::new(&AES_256_GCM, &raw)
        .map_err(|_| BrookError::InvalidText(format!("{}: not an AES-256 key", path.display())))?;
    Ok(LessSafeKey::new(unbound))
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl SecretsKey {
    /// Read the key at `path`, making it (32 random bytes, readable by the
    /// server's user only) if there is none; `previous` are older keys.
    pub fn load_or_create(path: &Path, previous: &[PathBuf]) -> Result<Self> {
        let rng = SystemRandom::new();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; 32];
                rng.fill(&mut raw)
                    .map_err(|_| BrookError::Internal("no randomness for a secrets key".into()))?;
                let text: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                write_private(path, format!("{text}\n").as_bytes())?;
                tracing::info!(file = %path.display(), "made a key for secrets at rest");
                text.into_bytes()
            }
            Err(e) => {
                return Err(BrookError::InvalidText(format!(
                    "cannot read the secrets key {}: {e}",
                    path.display()
                )));
            }
        };
        let current = key_from(&bytes, path)?;
        let previous = previous
            .iter()
            .map(|p| {
                let bytes = std::fs::read(p).map_err(|e| {
                    BrookError::InvalidText(format!(
                        "cannot read the secrets key {}: {e}",
                        p.display()
                    ))
                })?;
                key_from(&bytes, p)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            current,
            previous,
            rng,
        })
    }

    /// `plain` sealed under the current key, as text for a JSON file.
    pub fn seal(&self, plain: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| BrookError::Internal("no randomness for a nonce".into()))?;
        let mut sealed = plain.to_vec();
        self.current
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(PREFIX.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| BrookError::Internal("sealing a secret failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        ))
    }

    /// The plain bytes of `sealed`, and whether an older key opened it (the
    /// caller seals it again with the current one). A value no key opens
    /// is an error that names the way out.
    pub fn open(&self, sealed: &str) -> Result<(Vec<u8>, bool)> {
        let bad = || {
            BrookError::CatalogCorrupt(
                "a sealed secret does not open with the secrets key: start the server with the \
                 key it was sealed with (secrets_key_file, or previous_secrets_key_files while \
                 rotating)"
                    .into(),
            )
        };
        let body = sealed.strip_prefix(PREFIX).ok_or_else(bad)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| bad())?;
        if bytes.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, cipher) = bytes.split_at(NONCE_LEN);
        for (i, key) in std::iter::once(&self.current)
            .chain(&self.previous)
            .enumerate()
        {
            let mut buffer = cipher.to_vec();
            let Ok(nonce) = Nonce::try_assume_unique_for_key(nonce) else {
                return Err(bad());
            };
            if let Ok(plain) = key.open_in_place(nonce, Aad::from(PREFIX.as_bytes()), &mut buffer) {
                return Ok((plain.to_vec(), i > 0));
            }
        }
        Err(bad())
    }
}

/// Write `bytes` to a new file at `path` that only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(|e| {
        BrookError::InvalidText(format!(
            "cannot make the secrets key {}: {e}",
            path.display()
        ))
    })?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_their_key_and_only_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.key");
        let new = dir.path().join("new.key");
        let first = SecretsKey::load_or_create(&old, &[]).unwrap();
        let sealed = first.seal(b"hunter2").unwrap();
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            first.seal(b"hunter2").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(first.open(&sealed).unwrap(), (b"hunter2".to_vec(), false));

        // Another key alone does not open it; with the old one as previous it
        // does, and says the value is to be sealed again.
        let other = SecretsKey::load_or_create(&new, &[]).unwrap();
        assert!(other.open(&sealed).is_err());
        let rotating = SecretsKey::load_or_create(&new, std::slice::from_ref(&old)).unwrap();
        assert_eq!(rotating.open(&sealed).unwrap(), (b"hunter2".to_vec(), true));

        // The key file is the owner's alone, and a tampered value is refused.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&old).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(first.open(&tampered).is_err());
    }

    #[test]
    fn the_default_key_lives_beside_the_data_directory() {
        assert_eq!(
            default_key_file(Path::new("/var/lib/brook")),
            PathBuf::from("/var/lib/brook.secrets.key")
        );
        assert_eq!(
            default_key_file(Path::new("data")),
            PathBuf::from("data.secrets.key")
        );
    }
}
