//! What one session's queries see of the catalog: every shared schema, and
//! its own `pg_temp` schema of temporary tables, which no other session's
//! queries can name (storage::temp_tables).

use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider};
use datafusion::error::Result;

use super::DATABASE;
use crate::storage::temp_tables::{TEMP_SCHEMA, TempTables};

/// The server's catalogs, with the session's temporary schema in Brook's.
#[derive(Debug)]
pub struct SessionCatalogs {
    shared: Arc<dyn CatalogProviderList>,
    temp: Arc<TempTables>,
}

impl SessionCatalogs {
    pub fn new(shared: Arc<dyn CatalogProviderList>, temp: Arc<TempTables>) -> Self {
        Self { shared, temp }
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
        }))
    }
}

/// Brook's catalog as one session sees it.
#[derive(Debug)]
struct SessionCatalog {
    shared: Arc<dyn CatalogProvider>,
    temp: Arc<TempTables>,
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
        self.shared.schema(name)
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
