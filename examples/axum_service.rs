//! A web service that stores notes in SQLite, backs them up on a schedule,
//! and lets an operator list, verify and restore backups over HTTP — the
//! shape to copy into your own service:
//!
//! - the data layer, the backup and the store are values in the state
//!   (`Databases`, `Backup`, `BackupStore` are cheap to clone);
//! - errors become HTTP statuses in one place (`ApiError`);
//! - every backup, scheduled (`start_if_due`) or asked for over HTTP
//!   (`start`), runs under one `Runs` tracker, so on shutdown each run in
//!   progress is cancelled and waited for (its upload is aborted and its
//!   history says why) before the process exits — even one whose HTTP client
//!   has gone away.
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
    backup::{
        Backup, BackupError, BackupListing, BackupReport, BackupStore, Restore, RestoreMode,
        RunningBackup,
    },
    sqlite::Sqlite,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

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
    runs: Runs,
}

/// The backups in progress. A run's handle lives on a tracked task, not in
/// the request: a client that hangs up does not orphan the run, and
/// shutdown cancels every run and waits for each to finish cleanly.
#[derive(Clone)]
struct Runs {
    tracker: TaskTracker,
    stop: watch::Receiver<bool>,
}

impl Runs {
    /// Drives `running` to its end, or cancels it when shutdown begins.
    async fn track(&self, mut running: RunningBackup) -> Result<BackupReport, BackupError> {
        let mut stop = self.stop.clone();
        let task = self.tracker.spawn(async move {
            tokio::select! {
                outcome = &mut running => outcome,
                _ = stopping(&mut stop) => {
                    running.cancel();
                    running.wait().await
                }
            }
        });
        // The run is on its own task: a panic there is reported, not resumed.
        task.await.unwrap_or(Err(BackupError::Cancelled))
    }

    /// Cancels every run in progress and waits for all of them.
    async fn shut_down(&self, stop: &watch::Sender<bool>) {
        let _ = stop.send(true);
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Every error a handler can return, as an HTTP answer with a JSON body.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl From<BackupError> for ApiError {
    fn from(error: BackupError) -> Self {
        let error = match error {
            BackupError::Database(e) => return e.into(),
            other => other,
        };
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
            // The data changed under the backup: the operator must look.
            BackupError::MissingTable { .. } | BackupError::TableGone { .. } => {
                StatusCode::CONFLICT
            }
            BackupError::AccessDenied { .. } | BackupError::Store { .. } => StatusCode::BAD_GATEWAY,
            // Worth retrying later.
            BackupError::Cancelled | BackupError::SnapshotMismatch { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            BackupError::Unsupported { .. } | BackupError::FeatureNotEnabled { .. } => {
                StatusCode::NOT_IMPLEMENTED
            }
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
        let status = match &error {
            gludb::Error::Closed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            gludb::Error::Decode { .. } | gludb::Error::Encode { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            gludb::Error::TableNotEmpty { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
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
    let report = app.runs.track(app.backup.start(&app.dbs)?).await?;
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

/// Resolves once shutdown has begun (or the sender is gone).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Runs the backup whenever it is due, until shutdown begins (the run in
/// progress then is cancelled by `Runs`).
async fn schedule(app: AppState, every: Duration) {
    let mut stop = app.runs.stop.clone();
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping(&mut stop) => return,
        }
        let running = match app.backup.start_if_due(&app.dbs, every).await {
            Ok(Some(running)) => running,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("scheduled backup not started: {e}");
                continue;
            }
        };
        match app.runs.track(running).await {
            Ok(report) => eprintln!("scheduled backup: {}", report.key),
            Err(e) => eprintln!("scheduled backup failed: {e}"),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_check = std::env::args().any(|a| a == "--self-check");
    let (stop, stopping) = watch::channel(false);
    let state = app_state(stopping).await?;
    if self_check {
        return check(router(state)).await;
    }
    let every = std::env::var("GLUDB_BACKUP_EVERY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(3600), Duration::from_secs);
    let scheduler = tokio::spawn(schedule(state.clone(), every));
    let runs = state.runs.clone();
    let listen = std::env::var("GLUDB_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // Requests are answered: cancel every backup in progress (scheduled or
    // asked for by a client that has since gone) and wait for each.
    runs.shut_down(&stop).await;
    scheduler.await?;
    Ok(())
}

async fn app_state(stop: watch::Receiver<bool>) -> Result<AppState, Box<dyn std::error::Error>> {
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
    let runs = Runs {
        tracker: TaskTracker::new(),
        stop,
    };
    Ok(AppState {
        dbs,
        store,
        backup,
        runs,
    })
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
