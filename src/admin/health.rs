//! Health probes: `/healthz` (the process answers) and `/readyz` (the
//! catalog and the state store answer; 503 naming the one that does not).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::error::{Error, ErrorCode};
use crate::state::AppState;

/// Longest a readiness check waits for one dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness.
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// `GET /healthz`: 200 while the process serves requests.
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness, per dependency.
#[derive(Debug, Serialize)]
pub struct Ready {
    pub status: &'static str,
    pub checks: Checks,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::http::ErrorDetail>,
}

/// `ok` or the reason a dependency failed.
#[derive(Debug, Serialize)]
pub struct Checks {
    pub catalog: String,
    pub state: String,
}

async fn check(fut: impl Future<Output = Result<(), Error>>) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(match &err {
            Error::Unavailable {
                source: Some(s), ..
            } => format!("unreachable: {s}"),
            other => other.to_string(),
        }),
        Err(_) => Err(format!("no answer within {}s", CHECK_TIMEOUT.as_secs())),
    }
}

/// `GET /readyz`: 200 when both dependencies answer, else 503.
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Ready>) {
    let (catalog, state) = tokio::join!(
        check(app.catalog().store().ping()),
        check(app.state_store().health())
    );
    let failing: Vec<&str> = [("catalog", &catalog), ("state store", &state)]
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| name)
        .collect();
    let text = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let checks = Checks {
        catalog: text(&catalog),
        state: text(&state),
    };
    if failing.is_empty() {
        (
            StatusCode::OK,
            Json(Ready {
                status: "ready",
                checks,
                error: None,
            }),
        )
    } else {
        tracing::warn!(failing = ?failing, "not ready");
        let error = crate::http::ErrorDetail {
            code: ErrorCode::NotReady,
            message: format!("{} not reachable", failing.join(" and ")),
            field: None,
            authorization_url: None,
        };
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Ready {
                status: "unavailable",
                checks,
                error: Some(error),
            }),
        )
    }
}
