//! `LOCK [TABLE] name, … [IN mode MODE] [NOWAIT]`, which pg_dump sends for
//! every table it dumps (`IN ACCESS SHARE MODE`) and applications use to
//! serialise work.
//!
//! Brook's transactions read one snapshot: a reader already sees each
//! table as of its snapshot whatever others commit, and no writer waits
//! for a reader. So the modes that only keep a table from being dropped or
//! altered under a reader (ACCESS SHARE, ROW SHARE) or that every writer
//! holds anyway (ROW EXCLUSIVE) ask for nothing Brook does not give; they
//! are checked (the tables must exist, the statement must be in a block)
//! and granted. The modes that keep other sessions' writers out until
//! COMMIT (SHARE and stronger) are refused rather than pretended: a
//! transaction that believes it holds one would act on a wrong premise.

use datafusion::sql::sqlparser::ast::{self, LockTableMode};

use super::outcome::Outcome;
use crate::catalog::names::qualify;
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::temp_tables::TempTables;
use crate::storage::transaction::SessionTransaction;

/// A `LOCK TABLE` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct LockTable(pub ast::Lock);

impl LockTable {
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &datafusion::prelude::SessionContext,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let Some(session) = session.filter(|s| s.is_open()) else {
            return Err(BrookError::NoTransactionBlock("LOCK TABLE".into()));
        };
        let temp = TempTables::of(ctx);
        for target in &self.0.tables {
            let bare = (target.name.0.len() == 1).then(|| target.name.to_string());
            if let (Some(temp), Some(bare)) = (&temp, &bare)
                && temp.has(bare)
            {
                continue;
            }
            let name = qualify(&target.name)?;
            if !engine.catalog.exists_for(Some(session), &name).await {
                return Err(BrookError::UndefinedTable(name.to_string()));
            }
        }
        match self.0.lock_mode {
            // PostgreSQL's default mode is ACCESS EXCLUSIVE.
            None => Err(unsupported("ACCESS EXCLUSIVE")),
            Some(
                LockTableMode::AccessShare | LockTableMode::RowShare | LockTableMode::RowExclusive,
            ) => Ok(Outcome::done("LOCK TABLE")),
            Some(mode) => Err(unsupported(&mode.to_string())),
        }
    }
}

fn unsupported(mode: &str) -> BrookError {
    BrookError::Unsupported(format!(
        "LOCK TABLE … IN {mode} MODE (a lock that keeps other sessions' writes out until COMMIT); \
         ACCESS SHARE, ROW SHARE and ROW EXCLUSIVE are granted, since every Brook transaction reads one snapshot"
    ))
}
