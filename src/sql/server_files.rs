//! Paths that SQL names on the server (`COPY … FROM 'file'`, `COPY … TO
//! 'file'`), as PostgreSQL guards them and then some: only a superuser or
//! a member of `pg_read_server_files` (reading) or `pg_write_server_files`
//! (writing) may name one, and even then only inside the directories the
//! configuration opens to SQL (`server_file_dirs`, by default
//! `<data_dir>/import`). The path is resolved first — `..` and symbolic
//! links followed — so that neither leads out of them.

use std::path::{Path, PathBuf};

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::CopyTarget;

use crate::catalog::roles::{READ_SERVER_FILES, WRITE_SERVER_FILES};
use crate::engine::Engine;
use crate::error::{BrookError, Result};

/// What a statement does with a server file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The file `path` names, resolved, if the session's role may `access` it
/// there; `statement` names the statement in PostgreSQL's refusal (`COPY
/// from a file`).
pub fn resolve(
    engine: &Engine,
    ctx: &SessionContext,
    path: &str,
    access: Access,
    statement: &str,
) -> Result<PathBuf> {
    let who = super::authorize::identity(engine, ctx);
    let role = match access {
        Access::Read => READ_SERVER_FILES,
        Access::Write => WRITE_SERVER_FILES,
    };
    if !who.superuser && !engine.roles.has_privileges_of(&who.name, role) {
        return Err(BrookError::NotAllowed(format!(
            "must be superuser or have privileges of the {role} role to {statement}"
        )));
    }
    let dirs = engine.server_file_dirs();
    let requested = Path::new(path);
    let requested = if requested.is_absolute() {
        requested.to_path_buf()
    } else {
        match dirs.first() {
            Some(first) => first.join(requested),
            None => requested.to_path_buf(),
        }
    };
    let resolved = resolved(&requested, access, path)?;
    let inside = dirs
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .any(|dir| resolved.starts_with(&dir));
    if !inside {
        return Err(BrookError::NotAllowed(format!(
            "could not open file \"{path}\": it is outside the directories open to SQL \
             (server_file_dirs: {})",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(resolved)
}

/// The server file a COPY reads (`FROM 'file'`) or writes (`TO 'file'`),
/// resolved and allowed; `None` for the client's STDIN or STDOUT. A
/// PROGRAM, which would run a command as the server, is refused to all.
pub fn copy_file(
    engine: &Engine,
    ctx: &SessionContext,
    target: &CopyTarget,
    access: Access,
) -> Result<Option<PathBuf>> {
    let statement = match access {
        Access::Read => "COPY from a file",
        Access::Write => "COPY to a file",
    };
    match target {
        CopyTarget::Stdin | CopyTarget::Stdout => Ok(None),
        CopyTarget::File { filename } => {
            resolve(engine, ctx, filename, access, statement).map(Some)
        }
        CopyTarget::Program { .. } => Err(BrookError::NotAllowed(match access {
            Access::Read => "COPY FROM PROGRAM runs a command as the server; \
                             use COPY … FROM STDIN (psql: \\copy)"
                .into(),
            Access::Write => "COPY TO PROGRAM runs a command as the server; \
                              use COPY … TO STDOUT (psql: \\copy … TO 'file')"
                .into(),
        })),
    }
}

/// The flag that makes an open fail on a symbolic link at the path's last
/// step: the path was resolved with every link followed
/// ([`resolved`]), so a link found there now was put in between; it is
/// not followed out of the open directories.
fn no_follow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// The bytes of server file `path` (resolved by [`copy_file`]), read
/// without following a link swapped in since.
pub async fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(no_follow())
        .open(path)
        .await?;
    let mut data = vec![];
    file.read_to_end(&mut data).await?;
    Ok(data)
}

/// Server file `path` (resolved by [`copy_file`]) created or truncated
/// for writing, without following a link swapped in since.
pub async fn create_file(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(no_follow())
        .open(path)
        .await
}

/// `path` with `..` and every symbolic link resolved: the file itself when
/// it exists (a link is followed to where it leads), else, for a file to
/// be written, its directory's resolved path and the new name.
fn resolved(path: &Path, access: Access, shown: &str) -> Result<PathBuf> {
    let missing = |e: std::io::Error| {
        let verb = match access {
            Access::Read => "reading",
            Access::Write => "writing",
        };
        BrookError::Io(std::io::Error::new(
            e.kind(),
            format!("could not open file \"{shown}\" for {verb}: {e}"),
        ))
    };
    match std::fs::canonicalize(path) {
        Ok(found) => Ok(found),
        Err(e) if access == Access::Write && e.kind() == std::io::ErrorKind::NotFound => {
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                return Err(missing(e));
            };
            let parent = std::fs::canonicalize(parent).map_err(missing)?;
            Ok(parent.join(name))
        }
        Err(e) => Err(missing(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_link_put_in_after_resolving_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("secret");
        std::fs::write(&outside, "s").unwrap();
        let link = dir.path().join("rows.csv");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(read_file(&link).await.is_err());
        assert!(create_file(&link).await.is_err());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "s");
        let plain = dir.path().join("plain.csv");
        std::fs::write(&plain, "1,a\n").unwrap();
        assert_eq!(read_file(&plain).await.unwrap(), b"1,a\n");
    }
}
