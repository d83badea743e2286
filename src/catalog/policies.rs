//! Where a table's row-level security lives in the catalog file, for
//! `ALTER TABLE … ROW LEVEL SECURITY` and `CREATE/ALTER/DROP POLICY`: in
//! the table's entry, so that it goes with a drop, follows a rename and
//! takes part in a transaction as a grant does (catalog::grants).

use super::CatalogFile;
use super::names::QualifiedName;
use super::privileges::row_security::RowSecurity;
use crate::error::{BrookError, Result};

/// Table `relation`'s row-level security in `file`; a view has none (and
/// is refused as PostgreSQL refuses it).
pub(super) fn get(file: &CatalogFile, relation: &QualifiedName) -> Result<RowSecurity> {
    if let Some(table) = file
        .tables
        .iter()
        .find(|t| t.schema == relation.schema && t.name == relation.name)
    {
        return Ok(table.row_security.clone());
    }
    Err(not_a_table(file, relation))
}

/// Set table `relation`'s row-level security in `file`.
pub(super) fn set(
    file: &mut CatalogFile,
    relation: &QualifiedName,
    security: RowSecurity,
) -> Result<()> {
    let error = not_a_table(file, relation);
    let table = file
        .tables
        .iter_mut()
        .find(|t| t.schema == relation.schema && t.name == relation.name)
        .ok_or(error)?;
    table.row_security = security;
    Ok(())
}

fn not_a_table(file: &CatalogFile, relation: &QualifiedName) -> BrookError {
    let is_view = file
        .views
        .iter()
        .any(|v| v.schema == relation.schema && v.name == relation.name);
    if is_view {
        BrookError::WrongObjectType(format!("\"{}\" is not a table", relation.name))
    } else {
        BrookError::UndefinedTable(relation.name.clone())
    }
}
