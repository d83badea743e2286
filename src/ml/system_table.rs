//! `information_schema.models`: one row per model version.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::options::Refresh;
use super::registry::Registry;
use crate::catalog::system_table::SystemTable;

fn schema() -> SchemaRef {
    let text = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("model_name", false),
        Field::new("version", DataType::Int64, false),
        text("model_type", false),
        text("label", false),
        text("features", false),
        Field::new("rows_trained", DataType::Int64, false),
        text("metrics", false),
        Field::new(
            "created_at",
            crate::catalog::system_table::timestamp_type(),
            false,
        ),
        text("source_query", true),
        text("refresh", false),
        Field::new("progressive_score", DataType::Float64, true),
        Field::new("training_seconds", DataType::Float64, false),
        text("lineage", false),
    ]))
}

pub fn models(registry: Arc<Registry>) -> SystemTable {
    let schema = schema();
    let out = schema.clone();
    SystemTable::for_viewer(
        schema,
        Arc::new(move |viewer: &str| {
            // The models the reader owns or may use; a superuser sees all.
            let all: Vec<_> = registry
                .snapshot()
                .into_iter()
                .filter(|(name, _)| registry.visible_to(viewer, name))
                .flat_map(|(_, e)| e.versions.into_values())
                .collect();
            let text = |f: &dyn Fn(&super::model::ModelVersion) -> String| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(all.iter().map(|m| f(m))))
            };
            let lineage = |m: &super::model::ModelVersion| {
                serde_json::json!({
                    "tables": m.lineage.tables.iter().map(|(t, v)| serde_json::json!({"table": t, "version": v})).collect::<Vec<_>>(),
                    "offsets": m.lineage.offsets.iter().map(|(p, o)| serde_json::json!({"partition": p, "next_offset": o})).collect::<Vec<_>>(),
                })
                .to_string()
            };
            Ok(RecordBatch::try_new(
                out.clone(),
                vec![
                    text(&|m| m.name.clone()),
                    Arc::new(Int64Array::from_iter_values(
                        all.iter().map(|m| m.version as i64),
                    )),
                    text(&|m| m.model_type().name().to_string()),
                    text(&|m| m.label.clone()),
                    text(&|m| m.feature_names().join(", ")),
                    Arc::new(Int64Array::from_iter_values(
                        all.iter().map(|m| m.rows_trained as i64),
                    )),
                    text(&|m| m.metrics.to_json()),
                    Arc::new(
                        TimestampMicrosecondArray::from_iter_values(
                            all.iter().map(|m| m.created_at),
                        )
                        .with_timezone("UTC"),
                    ),
                    Arc::new(StringArray::from(
                        all.iter()
                            .map(|m| m.source_query.clone())
                            .collect::<Vec<_>>(),
                    )),
                    text(&|m| {
                        match m.options.refresh {
                            Refresh::Manual => "manual",
                            Refresh::Incremental => "incremental",
                        }
                        .to_string()
                    }),
                    Arc::new(Float64Array::from(
                        all.iter()
                            .map(|m| m.progressive.score())
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        all.iter().map(|m| m.training_seconds),
                    )),
                    text(&lineage),
                ],
            )?)
        }),
    )
}
