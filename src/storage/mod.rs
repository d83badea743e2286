//! Where rows are kept: Delta Lake tables on local disk (SPEC §4), the Postgres
//! type mapping for their columns, and background compaction.

pub mod compaction;
pub mod constraints;
pub mod dml;
pub mod orphans;
pub mod table;
pub mod types;
pub mod wal;

pub use table::DurableTable;
