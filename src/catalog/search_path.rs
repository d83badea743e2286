//! `search_path`: which schema a bare table name means in a session.
//!
//! PostgreSQL looks a bare name up in `pg_catalog`, then in each schema of
//! the session's `search_path` that exists, and creates a bare name in the
//! first of those (`current_schema()`). DataFusion knows one default
//! schema, so a session whose path is not the default has each bare
//! relation name of its statements written out in full before planning:
//! the schema that holds it, or the current schema if none does (where
//! CREATE puts it and where a read fails as PostgreSQL's would). Names of
//! the statement's own CTEs and `pg_catalog`'s relations are left as they
//! are. Views and CTAS store their query with the names so resolved, which
//! is what PostgreSQL binds at creation.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::catalog::CatalogProvider;
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, ObjectType, Query, Statement, VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::names::{DEFAULT_SCHEMA, normalize};
use super::settings::search_path_schemas;

/// The schema PostgreSQL searches before the path.
const SYSTEM: &str = "pg_catalog";
/// The session's temporary tables, searched before everything.
const TEMP: &str = crate::storage::temp_tables::TEMP_SCHEMA;

/// A session's search path over the schemas that exist now.
pub struct SearchPath {
    /// The path's schemas that exist, in order (`pg_catalog` apart).
    schemas: Vec<String>,
    /// The first schema the path names, existing or not.
    named_first: Option<String>,
    /// Whether the session has temporary tables (`pg_temp` comes first).
    temp: bool,
    catalog: Arc<dyn CatalogProvider>,
}

impl SearchPath {
    /// `path` as SET (`"$user", public`) for `user`, over `catalog`.
    pub fn new(catalog: Arc<dyn CatalogProvider>, path: &str, user: &str) -> Self {
        let existing = catalog.schema_names();
        let named = search_path_schemas(path, user);
        let named_first = named.iter().find(|s| *s != SYSTEM && *s != TEMP).cloned();
        let schemas = named
            .into_iter()
            .filter(|s| s != SYSTEM && s != TEMP && existing.contains(s))
            .collect();
        Self {
            schemas,
            named_first,
            temp: existing.iter().any(|s| s == TEMP),
            catalog,
        }
    }

    /// Whether bare names mean what they mean without a path: `public`.
    pub fn is_default(&self) -> bool {
        !self.temp && self.schemas.len() == 1 && self.schemas[0] == DEFAULT_SCHEMA
    }

    /// `current_schema()`: where a bare name is created; `None` when no
    /// schema of the path exists.
    pub fn current(&self) -> Option<&str> {
        self.schemas.first().map(String::as_str)
    }

    /// The schema DataFusion resolves what is left bare in: the current
    /// schema, or (none existing) the first named, so that a bare name
    /// fails as not found instead of landing in `public`.
    pub fn default_schema(&self) -> String {
        self.current()
            .map(str::to_string)
            .or_else(|| self.named_first.clone())
            .unwrap_or_else(|| SYSTEM.to_string())
    }

    /// The schemas `current_schemas(include_implicit)` lists.
    pub fn schemas(&self, include_implicit: bool) -> Vec<String> {
        let mut all = Vec::new();
        if include_implicit {
            all.push(SYSTEM.to_string());
        }
        all.extend(self.schemas.iter().cloned());
        all
    }

    fn holds(&self, schema: &str, name: &str) -> bool {
        self.catalog
            .schema(schema)
            .is_some_and(|s| s.table_exist(name))
    }

    /// The schema bare `name` means: the session's temporary table of that
    /// name, else `pg_catalog`'s relation, else the first schema of the
    /// path holding it.
    pub fn resolve(&self, name: &str) -> Option<String> {
        let temp = self.temp.then_some(TEMP);
        temp.into_iter()
            .chain(std::iter::once(SYSTEM))
            .chain(self.schemas.iter().map(String::as_str))
            .find(|schema| self.holds(schema, name))
            .map(str::to_string)
    }

    /// Whether relation `schema.name` is what its bare name means here
    /// (`pg_table_is_visible`).
    pub fn is_visible(&self, schema: &str, name: &str) -> bool {
        self.resolve(name).as_deref() == Some(schema)
    }

    /// Write `name` out in full if it is bare and its schema is not
    /// `pg_catalog` (left to DataFusion, which finds those itself).
    /// `false` when it stays as it was.
    pub fn qualify_name(&self, name: &mut ObjectName) -> bool {
        let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return false;
        };
        let bare = normalize(ident);
        let schema = match self.resolve(&bare) {
            Some(schema) if schema == SYSTEM => return false,
            Some(schema) => schema,
            None => self.default_schema(),
        };
        let ident = ident.clone();
        name.0 = vec![
            ObjectNamePart::Identifier(Ident::with_quote('"', schema)),
            ObjectNamePart::Identifier(ident),
        ];
        true
    }

    /// Write out every bare relation name of `node` but its CTEs' names.
    /// `false` when nothing changed.
    pub fn qualify<N: VisitMut + datafusion::sql::sqlparser::ast::Visit>(
        &self,
        node: &mut N,
    ) -> bool {
        let mut ctes = CteNames::default();
        let _ = datafusion::sql::sqlparser::ast::Visit::visit(&*node, &mut ctes);
        let mut qualifier = Qualifier {
            path: self,
            ctes: ctes.0,
            changed: false,
        };
        let _ = VisitMut::visit(node, &mut qualifier);
        qualifier.changed
    }

    /// [`Self::qualify`] over a whole statement, with the names sqlparser's
    /// relation visitor does not visit (a view's, those a DROP names).
    pub fn qualify_statement(&self, statement: &mut Statement) -> bool {
        // A temporary table is created in the session's own schema.
        let mut changed = false;
        if let Statement::CreateTable(create) = statement
            && create.temporary
            && let [ObjectNamePart::Identifier(ident)] = create.name.0.as_slice()
        {
            let ident = ident.clone();
            create.name.0 = vec![
                ObjectNamePart::Identifier(Ident::new(TEMP)),
                ObjectNamePart::Identifier(ident),
            ];
            changed = true;
        }
        changed |= self.qualify(statement);
        match statement {
            Statement::CreateView(view) => changed |= self.qualify_name(&mut view.name),
            Statement::Drop {
                object_type: ObjectType::Table | ObjectType::View,
                names,
                ..
            } => {
                for name in names {
                    changed |= self.qualify_name(name);
                }
            }
            _ => {}
        }
        changed
    }

    /// [`Self::qualify`] over SQL text: the text with names written out, or
    /// `None` when it needs no change (or does not parse, left to the
    /// planner to report).
    pub fn qualify_sql(&self, sql: &str) -> Option<String> {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
        let mut changed = false;
        for statement in &mut statements {
            changed |= self.qualify_statement(statement);
        }
        changed.then(|| {
            statements
                .iter()
                .map(Statement::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// The names CTEs give themselves anywhere in a statement (a CTE shadows a
/// table of its name in the query that defines it; collecting them all is
/// the safe side: such a name stays bare).
#[derive(Default)]
struct CteNames(HashSet<String>);

impl Visitor for CteNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.0.insert(normalize(&cte.alias.name));
            }
        }
        ControlFlow::Continue(())
    }
}

struct Qualifier<'a> {
    path: &'a SearchPath,
    ctes: HashSet<String>,
    changed: bool,
}

impl VisitorMut for Qualifier<'_> {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        if let [ObjectNamePart::Identifier(ident)] = relation.0.as_slice()
            && self.ctes.contains(&normalize(ident))
        {
            return ControlFlow::Continue(());
        }
        self.changed |= self.path.qualify_name(relation);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::Schema;
    use datafusion::catalog::{MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider};
    use datafusion::datasource::empty::EmptyTable;

    use super::*;

    fn catalog() -> Arc<dyn CatalogProvider> {
        let catalog = MemoryCatalogProvider::new();
        for (schema, tables) in [
            ("pg_catalog", &["pg_class"][..]),
            ("public", &["t", "only_public"][..]),
            ("sales", &["t", "orders"][..]),
        ] {
            let provider = Arc::new(MemorySchemaProvider::new());
            for table in tables {
                provider
                    .register_table(
                        table.to_string(),
                        Arc::new(EmptyTable::new(Arc::new(Schema::empty()))),
                    )
                    .unwrap();
            }
            catalog.register_schema(schema, provider).unwrap();
        }
        Arc::new(catalog)
    }

    #[test]
    fn bare_names_resolve_along_the_path() {
        let path = SearchPath::new(catalog(), "sales, public", "ann");
        assert!(!path.is_default());
        assert_eq!(path.current(), Some("sales"));
        assert_eq!(path.resolve("t").as_deref(), Some("sales"));
        assert_eq!(path.resolve("only_public").as_deref(), Some("public"));
        assert_eq!(path.resolve("pg_class").as_deref(), Some("pg_catalog"));
        assert_eq!(path.resolve("nowhere"), None);
        assert!(path.is_visible("sales", "t"));
        assert!(!path.is_visible("public", "t"));
        let sql = path
            .qualify_sql(
                "WITH orders AS (SELECT 1) SELECT * FROM t JOIN only_public USING (id), orders, \
                 pg_class, public.t AS p",
            )
            .unwrap();
        assert_eq!(
            sql,
            "WITH orders AS (SELECT 1) SELECT * FROM \"sales\".t JOIN \"public\".only_public \
             USING(id), orders, pg_class, public.t AS p"
        );
        // A new name is created in the current schema.
        assert_eq!(
            path.qualify_sql("CREATE TABLE fresh (a INT)").as_deref(),
            Some("CREATE TABLE \"sales\".fresh (a INT)")
        );
        assert_eq!(
            path.qualify_sql("CREATE VIEW v AS SELECT * FROM only_public")
                .as_deref(),
            Some("CREATE VIEW \"sales\".v AS SELECT * FROM \"public\".only_public")
        );
        assert_eq!(
            path.qualify_sql("DROP TABLE orders, only_public")
                .as_deref(),
            Some("DROP TABLE \"sales\".orders, \"public\".only_public")
        );
    }

    #[test]
    fn the_default_path_and_a_path_of_missing_schemas() {
        assert!(SearchPath::new(catalog(), "\"$user\", public", "ann").is_default());
        let nowhere = SearchPath::new(catalog(), "nope", "ann");
        assert_eq!(nowhere.current(), None);
        assert_eq!(nowhere.default_schema(), "nope");
        assert_eq!(
            SearchPath::new(catalog(), "", "ann").default_schema(),
            "pg_catalog"
        );
        assert_eq!(
            nowhere.qualify_sql("SELECT * FROM t").as_deref(),
            Some("SELECT * FROM \"nope\".t")
        );
    }
}
