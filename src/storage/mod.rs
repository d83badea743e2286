//! Where rows are kept: Delta Lake tables on local disk (SPEC §4) behind a
//! write-ahead log and per-table memtables, the Postgres type mapping for
//! their columns, and the background work (flushing, compaction).

pub mod commit;
pub mod compaction;
pub mod constraints;
pub mod dml;
pub mod flusher;
pub mod integer_keys;
pub mod memtable;
pub mod orphans;
pub mod recovery;
pub mod rewrite;
pub mod scan;
pub mod table;
pub mod temp_constraints;
pub mod temp_tables;
pub mod text_types;
pub mod transaction;
pub mod types;
pub mod wal;

pub use table::DurableTable;
