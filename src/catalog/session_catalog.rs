//! What one session's queries see of the catalog: every shared schema as
//! its open transaction changed it (tables and views it created or dropped,
//! which no other session sees before COMMIT: catalog::in_transaction), and
//! its own `pg_temp` schema of temporary tables, which no other session's
//! queries can name (storage::temp_tables).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::error::Result;

use super::DATABASE;
use crate::storage::temp_tables::{TEMP_SCHEMA, TempTables};
use crate::storage::transaction::SessionTransaction;

/// The server's catalogs, with the session's temporary schema in Brook's.
#[derive(Debug)]
pub struct SessionCatalogs {
    shared: Arc<dyn CatalogProviderList>,
    temp: Arc<TempTables>,
    transaction: Arc<SessionTransaction>,
}

impl SessionCatalogs {
    pub fn new(
        shared: Arc<dyn CatalogProviderList>,
        temp: Arc<TempTables>,
        transaction: Arc<SessionTransaction>,
    ) -> Self {
        Self {
            shared,
            temp,
            transaction,
        }
    }
}

impl CatalogProviderList for SessionCatalogs {
    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        self.shared.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        self.shared.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let shared = self.shared.catalog(name)?;
        if name != DATABASE {
            return Some(shared);
        }
        Some(Arc::new(SessionCatalog {
            shared,
            temp: self.temp.clone(),
            transaction: self.transaction.clone(),
        }))
    }
}

/// Brook's catalog as one session sees it.
#[derive(Debug)]
struct SessionCatalog {
    shared: Arc<dyn CatalogProvider>,
    temp: Arc<TempTables>,
    transaction: Arc<SessionTransaction>,
}

impl CatalogProvider for SessionCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.shared.schema_names();
        if !self.temp.is_empty() {
            names.push(TEMP_SCHEMA.to_string());
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == TEMP_SCHEMA {
            return Some(self.temp.clone());
        }
        let shared = self.shared.schema(name)?;
        // Always through the session's schema: it also marks the views
        // for the privilege check (catalog::privileges::view_boundary).
        Some(Arc::new(TransactionSchema {
            name: name.to_string(),
            shared,
            transaction: self.transaction.clone(),
        }))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.shared.register_schema(name, schema)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.shared.deregister_schema(name, cascade)
    }
}

/// A shared schema as the session's open transaction changed it.
#[derive(Debug)]
struct TransactionSchema {
    name: String,
    shared: Arc<dyn SchemaProvider>,
    transaction: Arc<SessionTransaction>,
}

#[async_trait]
impl SchemaProvider for TransactionSchema {
    fn table_names(&self) -> Vec<String> {
        let staged = self.transaction.staged_names(&self.name);
        let mut names: Vec<String> = self
            .shared
            .table_names()
            .into_iter()
            .filter(|n| !staged.iter().any(|(s, _)| s == n))
            .collect();
        names.extend(
            staged
                .into_iter()
                .filter(|(_, exists)| *exists)
                .map(|(n, _)| n),
        );
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let found = match self.transaction.staged_relation(&self.name, name) {
            Some(relation) => relation,
            None => self.shared.table(name).await?,
        };
        // A view's plan carries its name to the privilege check.
        let view = super::names::QualifiedName {
            schema: self.name.clone(),
            name: name.to_string(),
        };
        Ok(found
            .map(|provider| super::privileges::view_boundary::CheckedView::wrap(view, provider)))
    }

    fn table_exist(&self, name: &str) -> bool {
        match self.transaction.staged_relation(&self.name, name) {
            Some(relation) => relation.is_some(),
            None => self.shared.table_exist(name),
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.shared.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.shared.deregister_table(name)
    }
}
