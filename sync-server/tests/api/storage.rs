//! The storage layer itself: SQLite's single writer, and the two engines' schemas agreeing.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use protocol::events::EventBody;
use sqlx::Row;
use sync_server::db::Db;
use sync_server::events::EventHub;

use crate::common::{Backend, TestDb};

/// Many write transactions at once on SQLite all go through one connection, in turn: none waits
/// in SQLite's busy handler (which sleeps), every one commits, and sequence numbers have no gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writes_queue_for_one_writer_connection() {
    let test_db = TestDb::create(Backend::Sqlite).await;
    let db = Db::connect(&test_db.url, 8).await.unwrap();
    let org = sync_server::admin::create_org(&db, "Org", "UTC", None)
        .await
        .unwrap();
    let hub = EventHub::new(
        db.clone(),
        std::time::Duration::from_secs(60),
        tokio_util::sync::CancellationToken::new(),
    );
    let writes = join_all((0..64).map(|i| {
        let (db, hub, org_id) = (db.clone(), hub.clone(), org.id.clone());
        async move {
            let mut tx = db.begin_write(&org_id).await?;
            let event = tx
                .append(
                    None,
                    None,
                    EventBody::SessionsEnded(protocol::api::AgentRef {
                        id: format!("a{i}"),
                        name: format!("Agent {i}"),
                    }),
                )
                .await?;
            tx.commit(&hub).await?;
            Ok::<i64, sqlx::Error>(event.seq)
        }
    }))
    .await;
    let mut seqs: Vec<i64> = writes.into_iter().map(|w| w.unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=64).collect::<Vec<i64>>());
    assert_eq!(
        db.writer().size(),
        1,
        "one writer connection, whatever the load"
    );
    assert!(db.pool().size() >= 1);
}

/// Jobs on SQLite's writer thread that are queued together commit together, yet each keeps its
/// own outcome: a job that fails leaves none of its writes, its neighbours keep all of theirs, and
/// a write transaction through sqlx interleaves with them without either failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_thread_jobs_commit_together_each_all_or_nothing() {
    let test_db = TestDb::create(Backend::Sqlite).await;
    let db = Db::connect(&test_db.url, 8).await.unwrap();
    let org = sync_server::admin::create_org(&db, "Org", "UTC", None)
        .await
        .unwrap();
    let direct = db.direct().expect("SQLite has a writer thread").clone();
    let jobs = join_all((0..60_i64).map(|i| {
        let direct = direct.clone();
        async move {
            direct
                .run(move |conn| {
                    // Two writes per job; every third job then fails.
                    for part in 0..2 {
                        conn.execute(
                            "INSERT INTO auth_changes (agent_id, token_id, at) VALUES (?1, ?2, 0)",
                            (format!("job{i}"), format!("part{part}")),
                        )
                        .map_err(sync_server::db::direct::api_error)?;
                    }
                    if i % 3 == 0 {
                        return Err(sync_server::error::ApiError::validation(format!(
                            "job {i} refuses"
                        )));
                    }
                    Ok(i)
                })
                .await
        }
    }));
    let (outcomes, through_sqlx) = tokio::join!(jobs, async {
        let mut tx = db.begin_write(&org.id).await?;
        tx.sessions_ended("through-sqlx", None).await?;
        tx.commit(&EventHub::new(
            db.clone(),
            std::time::Duration::from_secs(60),
            tokio_util::sync::CancellationToken::new(),
        ))
        .await
    });
    through_sqlx.unwrap();
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Ok(value) => assert!(i % 3 != 0 && *value == i as i64, "job {i}: {value}"),
            Err(err) => assert!(i % 3 == 0, "job {i} failed: {err}"),
        }
    }
    let rows = sqlx::query("SELECT agent_id FROM auth_changes")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let mut written: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
    written.sort();
    let mut expected: Vec<String> = (0..60)
        .filter(|i| i % 3 != 0)
        .flat_map(|i| [format!("job{i}"), format!("job{i}")])
        .chain(["through-sqlx".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(written, expected);
    db.close().await;
}

/// When SQLite ends a group's transaction under the writer thread (as it does itself on a full
/// disk or an I/O error; here a job does it), no later job of the group runs in a transaction of
/// its own and commits alone: none of them hears Ok, none of their writes stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_ended_under_the_writer_thread_takes_its_whole_group_down() {
    let test_db = TestDb::create(Backend::Sqlite).await;
    let db = Db::connect(&test_db.url, 4).await.unwrap();
    let direct = db.direct().expect("SQLite has a writer thread").clone();
    let write = |agent: &'static str| {
        move |conn: &rusqlite::Connection| {
            conn.execute(
                "INSERT INTO auth_changes (agent_id, token_id, at) VALUES (?1, NULL, 0)",
                [agent],
            )
            .map_err(sync_server::db::direct::api_error)
        }
    };
    // Holds the thread until both jobs below are queued, so they run in one group.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let blocker = direct.run(move |_conn| {
        let _ = hold.recv();
        Ok(0)
    });
    let ends_it = direct.run(move |conn| {
        write("ended")(conn)?;
        conn.execute_batch("ROLLBACK")
            .map_err(sync_server::db::direct::api_error)?;
        Ok(1)
    });
    let after_it = direct.run(write("after"));
    release.send(()).unwrap();
    let (_, ended, after) = tokio::join!(blocker, ends_it, after_it);

    assert!(ended.is_err(), "its writes were undone: {ended:?}");
    assert!(
        after.is_err(),
        "it cannot have committed with its group: {after:?}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM auth_changes")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing of the group stays");
    // The thread goes on serving.
    let next = direct.run(write("next")).await;
    assert!(next.is_ok(), "{next:?}");
    db.close().await;
}

/// The columns each engine's migrations define, as `table.column`.
async fn columns(backend: Backend) -> BTreeSet<String> {
    let test_db = TestDb::create(backend).await;
    let db = Db::connect(&test_db.url, 2).await.unwrap();
    let rows = match backend {
        Backend::Sqlite => {
            sqlx::query(
                "SELECT m.name || '.' || p.name AS col
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
            )
            .fetch_all(db.pool())
            .await
        }
        Backend::Postgres => {
            sqlx::query(
                "SELECT table_name || '.' || column_name AS col FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
            )
            .fetch_all(db.pool())
            .await
        }
    }
    .unwrap();
    let columns = rows
        .iter()
        .map(|r| r.try_get::<String, _>("col").unwrap())
        .collect();
    db.close().await;
    columns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_migrate_to_the_same_tables_and_columns() {
    let sqlite = columns(Backend::Sqlite).await;
    let postgres = columns(Backend::Postgres).await;
    assert!(sqlite.contains("conversations.lock_fence"), "{sqlite:?}");
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_postgres:?}"
    );
}

/// An org keeps the locale it was created with (how its agents see dates and times); something
/// that is not a language tag is refused before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_keeps_its_locale_and_a_malformed_one_is_refused() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let test_db = TestDb::create(backend).await;
        let db = Db::connect(&test_db.url, 2).await.unwrap();
        let org = sync_server::admin::create_org(&db, "Org", "Asia/Kolkata", Some("hi-IN"))
            .await
            .unwrap();
        let found = sync_server::admin::find_org(&db, &org.id).await.unwrap();
        assert_eq!(
            (found.timezone.as_str(), found.locale.as_str()),
            ("Asia/Kolkata", "hi-IN")
        );
        for bad in ["english", "en_GB", "<b>", "e", "en-GB-x-verylongsubtag", ""] {
            let refused = sync_server::admin::create_org(&db, "Org 2", "UTC", Some(bad)).await;
            assert!(
                matches!(refused, Err(sync_server::admin::AdminError::Invalid(_))),
                "{bad:?} was not refused"
            );
        }
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orgs")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(
            count, 1,
            "{backend:?}: nothing was written for a refused org"
        );
        db.close().await;
    }
}
