//! The models of a server and their versions, kept in memory for PREDICT and
//! on disk for restarts: `models/<name>/<version>.model`, one file per
//! version, written to a temporary name, synced and renamed into place, so a
//! crash leaves either the whole version or none of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::error::{MlError, Result};
use super::model::ModelVersion;
use crate::catalog::privileges::{Acl, Privileges};

/// A model's versions, oldest first, and who may use it.
#[derive(Debug, Default, Clone)]
pub struct ModelEntry {
    pub versions: BTreeMap<u64, Arc<ModelVersion>>,
    /// Its owner and `GRANT USAGE ON MODEL` grants (`acl.json` beside the
    /// versions; none: the bootstrap superuser's, as models made before
    /// owners were recorded are).
    pub acl: Acl,
}

/// The file of a model's owner and grants, beside its versions.
const ACL_FILE: &str = "acl.json";

impl ModelEntry {
    pub fn current(&self) -> Option<&Arc<ModelVersion>> {
        self.versions.values().next_back()
    }
}

/// Every model of the server, shared by the SQL functions and the refresh tasks.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    models: RwLock<BTreeMap<String, ModelEntry>>,
    /// Held while a version is numbered and written, so two trainings of
    /// one model never take the same number.
    publishing: std::sync::Mutex<()>,
    /// Where the owners and grants are published (catalog::privileges).
    privileges: std::sync::OnceLock<Privileges>,
}

/// `name` or `name@version`, as PREDICT and EVALUATE take it.
pub fn parse_reference(reference: &str) -> Result<(String, Option<u64>)> {
    let (name, version) = match reference.rsplit_once('@') {
        Some((name, v)) => {
            let v = v.trim().parse::<u64>().map_err(|_| {
                MlError::Arguments(format!(
                    "\"{reference}\" is not a model reference: write 'model' or 'model@version'"
                ))
            })?;
            (name, Some(v))
        }
        None => (reference, None),
    };
    Ok((normalize(name), version))
}

/// Model names fold to lower case as unquoted SQL identifiers do.
pub fn normalize(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Model names become directory names, so they are kept to identifier characters.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(MlError::InvalidOption(format!(
            "\"{name}\" is not a valid model name: use letters, digits and underscores, starting with a letter"
        )))
    }
}

fn storage(e: impl std::fmt::Display) -> MlError {
    MlError::Storage(e.to_string())
}

impl Registry {
    /// Load every stored model version from `data_dir/models`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("models");
        std::fs::create_dir_all(&dir).map_err(storage)?;
        let mut models: BTreeMap<String, ModelEntry> = BTreeMap::new();
        for model_dir in std::fs::read_dir(&dir).map_err(storage)? {
            let model_dir = model_dir.map_err(storage)?;
            if !model_dir.file_type().map_err(storage)?.is_dir() {
                continue;
            }
            let name = model_dir.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                // A model dropped while the server stopped mid-delete.
                let _ = std::fs::remove_dir_all(model_dir.path());
                continue;
            }
            let mut entry = ModelEntry::default();
            for file in std::fs::read_dir(model_dir.path()).map_err(storage)? {
                let path = file.map_err(storage)?.path();
                if path.file_name().and_then(|n| n.to_str()) == Some(ACL_FILE) {
                    let bytes = std::fs::read(&path).map_err(storage)?;
                    entry.acl = serde_json::from_slice(&bytes)
                        .map_err(|e| MlError::Corrupt(format!("{}: {e}", path.display())))?;
                    continue;
                }
                if path.extension().and_then(|e| e.to_str()) != Some("model") {
                    // Leftover temporary files of an interrupted write.
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(storage)?;
                let version: ModelVersion = postcard::from_bytes(&bytes)
                    .map_err(|e| MlError::Corrupt(format!("{}: {e}", path.display())))?;
                entry.versions.insert(version.version, Arc::new(version));
            }
            if !entry.versions.is_empty() {
                models.insert(name, entry);
            } else {
                let _ = std::fs::remove_dir(model_dir.path());
            }
        }
        tracing::info!(models = models.len(), "models loaded");
        Ok(Self {
            dir,
            models: RwLock::new(models),
            publishing: std::sync::Mutex::new(()),
            privileges: std::sync::OnceLock::new(),
        })
    }

    /// From now on the models' owners and grants are published to
    /// `privileges`, where the checks of PREDICT and of model statements
    /// read them.
    pub fn attach_privileges(&self, privileges: Privileges) {
        let _ = self.privileges.set(privileges);
        self.publish_acls();
    }

    fn publish_acls(&self) {
        if let Some(privileges) = self.privileges.get() {
            let acls = self
                .read()
                .iter()
                .map(|(name, entry)| (name.clone(), entry.acl.clone()))
                .collect();
            privileges.publish_models(acls);
        }
    }

    /// Whether role `viewer` may see model `name` in the system tables: it
    /// owns it or may use it (everyone, before privileges are attached).
    pub fn visible_to(&self, viewer: &str, name: &str) -> bool {
        let Some(privileges) = self.privileges.get() else {
            return true;
        };
        let who = privileges.identity(viewer);
        privileges.check_model(&who, name).is_ok()
    }

    /// Check that the session running with `config` may use model `name`
    /// (USAGE); contexts that are no session's may.
    pub fn check_usage(
        &self,
        config: &datafusion::config::ConfigOptions,
        name: &str,
    ) -> crate::error::Result<()> {
        let (Some(privileges), Some(_)) =
            (self.privileges.get(), crate::catalog::settings::of(config))
        else {
            return Ok(());
        };
        let who = privileges.identity(&crate::catalog::settings::session_role(config));
        privileges.check_model(&who, name)
    }

    /// The owner and grants of model `name`.
    pub fn acl_of(&self, name: &str) -> Option<Acl> {
        self.read().get(&normalize(name)).map(|e| e.acl.clone())
    }

    /// Set the owner and grants of model `name`, durably.
    pub fn set_acl(&self, name: &str, acl: Acl) -> Result<()> {
        let name = normalize(name);
        let _publishing = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        if !self.read().contains_key(&name) {
            return Err(MlError::UndefinedModel(name));
        }
        let bytes = serde_json::to_vec(&acl).map_err(storage)?;
        crate::durable_file::write_atomically(&self.dir.join(&name).join(ACL_FILE), &bytes)
            .map_err(storage)?;
        if let Some(entry) = self.write().get_mut(&name) {
            entry.acl = acl;
        }
        self.publish_acls();
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, ModelEntry>> {
        self.models.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, ModelEntry>> {
        self.models.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The version `reference` names (the current one without `@n`).
    pub fn resolve(&self, reference: &str) -> Result<Arc<ModelVersion>> {
        let (name, version) = parse_reference(reference)?;
        let models = self.read();
        let entry = models
            .get(&name)
            .ok_or_else(|| MlError::UndefinedModel(name.clone()))?;
        match version {
            None => entry.current().cloned(),
            Some(v) => entry.versions.get(&v).cloned(),
        }
        .ok_or(MlError::UndefinedVersion {
            name,
            version: version.unwrap_or(0),
        })
    }

    pub fn exists(&self, name: &str) -> bool {
        self.read().contains_key(&normalize(name))
    }

    /// The version number the next publish of `name` gets.
    pub fn next_version(&self, name: &str) -> u64 {
        self.read()
            .get(&normalize(name))
            .and_then(|e| e.versions.keys().next_back().copied())
            .map_or(1, |v| v + 1)
    }

    /// Number `version` as the model's next, store it durably, then make it
    /// the current version.
    pub fn publish(&self, mut version: ModelVersion) -> Result<Arc<ModelVersion>> {
        check_name(&version.name)?;
        let _publishing = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        version.version = self.next_version(&version.name);
        let model_dir = self.dir.join(&version.name);
        std::fs::create_dir_all(&model_dir).map_err(storage)?;
        let bytes = postcard::to_stdvec(&version).map_err(storage)?;
        let file = model_dir.join(format!("{:010}.model", version.version));
        crate::durable_file::write_atomically(&file, &bytes).map_err(storage)?;
        let version = Arc::new(version);
        self.write()
            .entry(version.name.clone())
            .or_default()
            .versions
            .insert(version.version, version.clone());
        tracing::info!(model = %version.name, version = version.version, "model version published");
        self.publish_acls();
        Ok(version)
    }

    /// Remove a model and all its versions.
    pub fn drop_model(&self, name: &str, if_exists: bool) -> Result<()> {
        let name = normalize(name);
        let removed = self.write().remove(&name);
        if removed.is_none() {
            return if if_exists {
                Ok(())
            } else {
                Err(MlError::UndefinedModel(name))
            };
        }
        self.publish_acls();
        let dir = self.dir.join(&name);
        // Rename first so a crash mid-delete never leaves a half model behind.
        let doomed = self
            .dir
            .join(format!(".dropped-{name}-{}", std::process::id()));
        if std::fs::rename(&dir, &doomed).is_ok() {
            std::fs::remove_dir_all(&doomed).map_err(storage)?;
        }
        Ok(())
    }

    /// Every model's versions, for `information_schema.models` and SHOW MODELS.
    pub fn snapshot(&self) -> BTreeMap<String, ModelEntry> {
        self.read().clone()
    }
}
