//! Reading pipelines.

use protocol::api::Pipeline;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::ApiResult;

pub fn pipeline_from_row(row: &AnyRow) -> ApiResult<Pipeline> {
    let stages: String = row.try_get("stages")?;
    let sla: Option<String> = row.try_get("sla")?;
    Ok(Pipeline {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        stages: serde_json::from_str(&stages).map_err(anyhow::Error::from)?,
        sla: match sla {
            Some(text) => serde_json::from_str(&text).map_err(anyhow::Error::from)?,
            None => Default::default(),
        },
        created_at: row.try_get("created_at")?,
    })
}

/// A pipeline of the org by id; another org's is `None`.
pub async fn find(
    conn: &mut AnyConnection,
    org_id: &str,
    pipeline_id: &str,
) -> ApiResult<Option<Pipeline>> {
    sqlx::query(
        "SELECT id, name, stages, sla, created_at FROM pipelines WHERE id = $1 AND org_id = $2",
    )
    .bind(pipeline_id)
    .bind(org_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(pipeline_from_row)
    .transpose()
}
