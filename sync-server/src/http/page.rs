//! Pages of a list: `?limit=&cursor=`, answered as `{items, next_cursor}`. No list is unbounded.

use protocol::codes;
use serde::Deserialize;

use super::error::{ApiError, ApiResult};

/// `?limit=&cursor=` of a paged list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The page size asked for, `default` if none, refused beyond `max`.
pub fn limit(asked: Option<i64>, default: i64, max: i64) -> ApiResult<i64> {
    match asked {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest {
            code: codes::INVALID_PARAMETER,
            message: format!("limit must be between 1 and {max}"),
        }),
    }
}

/// A cursor that is not one the server handed out.
pub fn bad_cursor() -> ApiError {
    ApiError::BadRequest {
        code: codes::INVALID_PARAMETER,
        message: "cursor must be a next_cursor value from a previous page".to_owned(),
    }
}

/// The cursor after a page: the last item's key when the page was full.
pub fn next_cursor<T>(items: &[T], limit: i64, key: impl Fn(&T) -> String) -> Option<String> {
    (items.len() as i64 == limit)
        .then(|| items.last().map(key))
        .flatten()
}
