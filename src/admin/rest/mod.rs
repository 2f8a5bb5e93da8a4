//! The REST admin API under `/api/v1`: categories, servers and `me`, with an
//! OpenAPI document generated from the handlers at `/api/v1/openapi.json`.
//!
//! Handlers only parse, call a service with the [`Principal`] and render;
//! every error is `{"error":{"code","message","field"}}`.

mod audit;
mod categories;
mod extract;
mod oauth;
mod servers;
mod session;
mod toolsets;

use crate::error::ErrorCode;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, SecurityRequirement};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use extract::{ApiJson, ApiQuery};
pub(crate) use oauth::callback as oauth_callback;

use crate::http::{ApiError, ErrorBody};
use crate::principal::{Principal, Role};
use crate::state::AppState;

/// Where the REST API is mounted.
pub const BASE: &str = "/api/v1";

/// The `/api/v1` router (paths relative to it) and its OpenAPI document.
pub fn router() -> (axum::Router<AppState>, OpenApi) {
    let (router, mut api) = OpenApiRouter::new()
        .routes(routes!(me))
        .merge(categories::router())
        .merge(servers::router())
        .merge(toolsets::router())
        .merge(session::router())
        .merge(oauth::router())
        .merge(audit::router())
        .split_for_parts();
    document_common_responses(&mut api);
    api.info = InfoBuilder::new()
        .title("Manifold admin API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Categories and upstream MCP servers. Authenticate with `Authorization: Bearer <API key>`. \
             Errors are `{\"error\":{\"code\",\"message\",\"field\"}}`.",
        ))
        .build();
    api.servers = Some(vec![utoipa::openapi::Server::new(BASE)]);
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    api.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    let doc = api.clone();
    let router = router.route(
        "/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { Json(doc) }
        }),
    );
    (router, api)
}

/// Who is calling.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    user_id: String,
    role: Role,
    /// The connection-state session requests of this principal use.
    session: String,
    /// How the caller authenticated (`api_key`, `jwt` or `anonymous`).
    auth: String,
}

/// The authenticated principal.
#[utoipa::path(get, path = "/me", tag = "me",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(State(_app): State<AppState>, principal: Principal) -> Json<Me> {
    let auth = principal.credential.kind();
    Json(Me {
        user_id: principal.user_id.clone(),
        role: principal.role,
        session: principal.session.to_string(),
        auth: auth.into(),
    })
}

/// 404 for paths no route matches, in the REST error shape.
pub async fn route_not_found() -> Response {
    ApiError::code_response(ErrorCode::RouteNotFound, "no such route")
}

/// 405 for a known path with another method, in the REST error shape.
pub async fn method_not_allowed() -> Response {
    ApiError::code_response(
        ErrorCode::MethodNotAllowed,
        "this route does not accept that method",
    )
}

/// Documents the answers every operation may give whatever it does, with
/// the error body: 429 with its `Retry-After` header past the rate limit,
/// 408 when the request outlives `http.request_timeout_seconds`, 503 when
/// the catalog or the state store is unreachable, and 500.
pub fn document_common_responses(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
    };
    let common = [
        (
            "429",
            error("Rate limited: wait `Retry-After` seconds (code `rate_limited`).")
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .description(Some("Whole seconds to wait before retrying."))
                        .build(),
                )
                .build(),
        ),
        (
            "408",
            error("The request outlived `http.request_timeout_seconds`.").build(),
        ),
        (
            "500",
            error("An unexpected failure (code `internal`); the cause is only logged.").build(),
        ),
        (
            "503",
            error("A dependency (catalog, state store) is unreachable (code `unavailable`).")
                .build(),
        ),
    ];
    for item in api.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            for (status, response) in &common {
                operation
                    .responses
                    .responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| response.clone().into());
            }
        }
    }
}
