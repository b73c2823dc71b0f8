//! A web service that stores notes in SQLite, backs them up on a schedule,
//! and lets an operator list, verify and restore backups over HTTP — the
//! shape to copy into your own service:
//!
//! - the data layer, the backup and the store are values in the state
//!   (`Databases`, `Backup`, `BackupStore` are cheap to clone);
//! - errors become HTTP statuses in one place (`ApiError`);
//! - a scheduled backup runs through `start_if_due`, so the service keeps a
//!   handle and, on shutdown, cancels a run in progress and waits for it (its
//!   upload is aborted and its history says why) before the process exits.
//!
//! ```text
//! cargo run --example axum_service                 # http://127.0.0.1:3000
//! curl -X POST localhost:3000/notes -H 'content-type: application/json' -d '{"text":"hello"}'
//! curl -X POST localhost:3000/backups              # a backup now (409 while one runs)
//! curl localhost:3000/backups                      # JSON, newest first
//! curl -X POST localhost:3000/backups/<key>/verify
//! curl -X POST localhost:3000/backups/<key>/restore
//! cargo run --example axum_service -- --self-check # runs the routes once and exits
//! ```
//! Settings: `GLUDB_LISTEN` (default `127.0.0.1:3000`), `GLUDB_DEMO_DB`,
//! `GLUDB_BACKUP_URL` (as in `backup_demo`), `GLUDB_BACKUP_EVERY_SECS`.

use std::{path::PathBuf, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use gludb::{
    Databases, Storable,
    backup::{Backup, BackupError, BackupListing, BackupStore, Restore, RestoreMode},
    sqlite::Sqlite,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What the service stores.
#[derive(Storable, Serialize, Deserialize, Clone)]
#[gludb(table = "ServiceNote")]
struct Note {
    #[serde(default)]
    id: String,
    text: String,
}

#[derive(Clone)]
struct AppState {
    dbs: Databases,
    store: BackupStore,
    backup: Backup,
}

/// Every error a handler can return, as an HTTP answer with a JSON body.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl From<BackupError> for ApiError {
    fn from(error: BackupError) -> Self {
        let status = match &error {
            BackupError::NotFound { .. } => StatusCode::NOT_FOUND,
            BackupError::AlreadyRunning { .. } => StatusCode::CONFLICT,
            BackupError::Archive { .. }
            | BackupError::BadRecord(_)
            | BackupError::ClassesNotInBackup { .. }
            | BackupError::NothingToRestore { .. }
            | BackupError::AmbiguousType { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            BackupError::InvalidOption { .. }
            | BackupError::InvalidSetName { .. }
            | BackupError::NothingSelected => StatusCode::BAD_REQUEST,
            BackupError::AccessDenied { .. } | BackupError::Store { .. } => StatusCode::BAD_GATEWAY,
            BackupError::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: error.to_string(),
        }
    }
}

impl From<gludb::Error> for ApiError {
    fn from(error: gludb::Error) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        (self.status, body).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn save_note(State(app): State<AppState>, Json(mut note): Json<Note>) -> ApiResult<Note> {
    note.save(&app.dbs).await?;
    Ok(Json(note))
}

async fn list_backups(State(app): State<AppState>) -> ApiResult<Vec<BackupListing>> {
    Ok(Json(app.store.list().await?))
}

async fn back_up_now(State(app): State<AppState>) -> ApiResult<serde_json::Value> {
    let report = app.backup.start(&app.dbs)?.wait().await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

async fn verify(
    State(app): State<AppState>,
    Path(key): Path<String>,
) -> ApiResult<serde_json::Value> {
    let report = Restore::on(&app.store).verify(&key).await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

async fn restore(
    State(app): State<AppState>,
    Path(key): Path<String>,
) -> ApiResult<serde_json::Value> {
    let report = Restore::on(&app.store)
        .with_mode(RestoreMode::SkipExisting)
        .restore(&key, &app.dbs)
        .await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/notes", post(save_note))
        .route("/backups", get(list_backups).post(back_up_now))
        .route("/backups/{key}/verify", post(verify))
        .route("/backups/{key}/restore", post(restore))
        .with_state(state)
}

/// Runs the backup whenever it is due, until `stop` says so; a run in
/// progress at that moment is cancelled and waited for.
async fn schedule(app: AppState, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let mut running = match app.backup.start_if_due(&app.dbs, every).await {
            Ok(Some(running)) => running,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("scheduled backup not started: {e}");
                continue;
            }
        };
        tokio::select! {
            outcome = &mut running => match outcome {
                Ok(report) => eprintln!("scheduled backup: {}", report.key),
                Err(e) => eprintln!("scheduled backup failed: {e}"),
            },
            _ = stop.changed() => {
                running.cancel();
                let _ = running.wait().await;
                return;
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_check = std::env::args().any(|a| a == "--self-check");
    let state = app_state().await?;
    if self_check {
        return check(router(state)).await;
    }
    let every = std::env::var("GLUDB_BACKUP_EVERY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(3600), Duration::from_secs);
    let (stop, stopped) = watch::channel(false);
    let scheduler = tokio::spawn(schedule(state.clone(), every, stopped));
    let listen = std::env::var("GLUDB_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // Requests are done: stop the schedule, cancelling a backup in progress.
    let _ = stop.send(true);
    scheduler.await?;
    Ok(())
}

async fn app_state() -> Result<AppState, Box<dyn std::error::Error>> {
    let path = std::env::var_os("GLUDB_DEMO_DB")
        .map_or_else(|| PathBuf::from("gludb-service.sqlite"), PathBuf::from);
    let url = match std::env::var("GLUDB_BACKUP_URL") {
        Ok(url) => url,
        Err(_) => format!(
            "file://{}",
            std::env::current_dir()?.join("backups").display()
        ),
    };
    let dbs = Databases::new(Sqlite::open(&path).await?);
    Note::ensure_table(&dbs).await?;
    let store = BackupStore::from_url(&url)?;
    let backup = Backup::on(&store).with_name("service").with_class::<Note>();
    Ok(AppState { dbs, store, backup })
}

/// `--self-check`: the routes once, in process, on a fresh database and
/// backup directory; exits non-zero on any surprise.
async fn check(app: Router) -> Result<(), Box<dyn std::error::Error>> {
    use axum::body::{Body, to_bytes};
    use tower::ServiceExt;
    let call = |method: &str, uri: &str, body: Option<&str>| {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())));
        let app = app.clone();
        async move {
            let response = app.oneshot(request?).await?;
            let status = response.status();
            let bytes = to_bytes(response.into_body(), 1 << 20).await?;
            let json: serde_json::Value = serde_json::from_slice(&bytes)?;
            Ok::<_, Box<dyn std::error::Error>>((status, json))
        }
    };
    let (status, _) = call("POST", "/notes", Some(r#"{"text":"checked"}"#)).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, report) = call("POST", "/backups", None).await?;
    assert_eq!(status, StatusCode::OK, "{report}");
    let key = report["key"].as_str().ok_or("no key")?.to_owned();
    let (status, listed) = call("GET", "/backups", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        listed
            .as_array()
            .is_some_and(|l| l.iter().any(|b| b["key"] == key.as_str()))
    );
    let encoded = key.replace('/', "%2F");
    let (status, verdict) = call("POST", &format!("/backups/{encoded}/verify"), None).await?;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["problems"], serde_json::json!([]));
    let (status, restored) = call("POST", &format!("/backups/{encoded}/restore"), None).await?;
    assert_eq!(status, StatusCode::OK, "{restored}");
    let (status, missing) = call("POST", "/backups/Backup_UTC_nothing.tar.gz/verify", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    println!("self-check passed: backed up, listed, verified and restored {key}");
    Ok(())
}
