//! Reads WhatsApp Web's own IndexedDB database, `model-storage`, for the names and ids of chats
//! when the MAIN-world bridge is not answering. A content script may open the page's databases
//! by name (verified on Chromium 156; `indexedDB.databases()` lists nothing there). The layout is
//! WhatsApp's and undocumented: the `chat`, `contact` and `group-metadata` stores keyed by id,
//! with `name`, `subject`, `phoneNumber` and `lid` fields as public readers assume; whatever
//! differs is skipped. It is read-only, and never creates the database if WhatsApp has not.

use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

use crate::error::CoreError;
use crate::identity::names::DbRecord;
use crate::identity::NameIndex;

const DATABASE: &str = "model-storage";

/// Waits for a request to succeed or fail.
async fn settled(request: &IdbRequest) -> Result<JsValue, CoreError> {
    let promise = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    request.set_onsuccess(None);
    request.set_onerror(None);
    outcome.map_err(|_| {
        CoreError::Js(
            request
                .error()
                .ok()
                .flatten()
                .map(|e| e.message())
                .unwrap_or_else(|| "the request failed".to_owned()),
        )
    })?;
    Ok(request.result()?)
}

/// An id as WhatsApp stores it: a string, or an object with `_serialized`.
fn id_of(value: &JsValue) -> Option<String> {
    value.as_string().or_else(|| {
        Reflect::get(value, &"_serialized".into())
            .ok()
            .and_then(|s| s.as_string())
    })
}

fn field(record: &JsValue, name: &str) -> JsValue {
    Reflect::get(record, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

fn text(record: &JsValue, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| field(record, name).as_string())
        .filter(|s| !s.trim().is_empty())
}

/// Every record of a store, reduced to a [`DbRecord`]; an absent store is empty.
async fn records(
    db: &IdbDatabase,
    store: &str,
    names: &[&str],
    links: &[&str],
) -> Result<Vec<DbRecord>, CoreError> {
    if !db.object_store_names().contains(store) {
        return Ok(Vec::new());
    }
    let transaction = db.transaction_with_str_and_mode(store, IdbTransactionMode::Readonly)?;
    let request = transaction.object_store(store)?.get_all()?;
    let all: Array = settled(&request).await?.dyn_into()?;
    Ok(all
        .iter()
        .filter_map(|record| {
            Some(DbRecord {
                id: id_of(&field(&record, "id"))?,
                name: text(&record, names),
                linked: links.iter().find_map(|l| id_of(&field(&record, l))),
            })
        })
        .collect())
}

/// Reads the database into a name index; an error if it is missing or unreadable.
pub async fn read() -> Result<NameIndex, CoreError> {
    let factory = web_sys::window()
        .ok_or_else(|| CoreError::Js("no window".into()))?
        .indexed_db()?
        .ok_or_else(|| CoreError::Js("IndexedDB is not available".into()))?;
    let open: IdbOpenDbRequest = factory.open(DATABASE)?;
    // Opening a database that does not exist would create it: abort that instead.
    let refuse_creation = Closure::<dyn FnMut(web_sys::Event)>::new(|event: web_sys::Event| {
        let transaction = event
            .target()
            .and_then(|t| t.dyn_into::<IdbOpenDbRequest>().ok())
            .and_then(|request| request.transaction());
        if let Some(transaction) = transaction {
            let _ = transaction.abort();
        }
    });
    open.set_onupgradeneeded(Some(refuse_creation.as_ref().unchecked_ref()));
    let opened = settled(&open).await;
    open.set_onupgradeneeded(None);
    drop(refuse_creation);
    let db: IdbDatabase = opened
        .map_err(|_| CoreError::Js(format!("WhatsApp's {DATABASE} database is not there")))?
        .dyn_into()?;
    let result = async {
        let chats = records(&db, "chat", &["name", "formattedTitle"], &[]).await?;
        let contacts = records(&db, "contact", &["name"], &["phoneNumber", "lid"]).await?;
        let groups = records(&db, "group-metadata", &["subject"], &[]).await?;
        Ok(NameIndex::from_model_storage(&chats, &contacts, &groups))
    }
    .await;
    db.close();
    result
}
