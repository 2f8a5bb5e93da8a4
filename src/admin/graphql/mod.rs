//! The GraphQL admin API at `/graphql` (async-graphql): the seed's category
//! documents, servers with this session's connection state, and connect /
//! disconnect, as Relay connections where lists page.
//!
//! `POST /graphql` takes one JSON document (`{"query","variables",
//! "operationName"}`; no batches, so one request is one complexity budget)
//! from the same principal as REST — same authentication, same rate limit,
//! same `http.max_body_bytes`. `GET /graphql` serves GraphiQL when
//! `graphql.playground` is on. Resolvers only call the catalog service and
//! the session manager; every domain error carries REST's stable code in
//! `extensions.code` (see `error.rs`).
//!
//! Subscriptions run over WebSocket at `/graphql/ws` (see `subscription.rs`).
//! The SDL is committed as `schema.graphql`; [`sdl`] prints it from code.

mod audit;
mod batch;
mod error;
mod limits;
mod mutation;
mod nullability;
mod query;
mod subscription;
mod toolsets;
mod types;

use async_graphql::http::GraphiQLSource;
use async_graphql::{Context, Data, Schema};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::{Error, ErrorCode};
use crate::principal::Principal;
use crate::state::AppState;

/// Where the GraphQL API is mounted.
pub const PATH: &str = "/graphql";
/// Where subscriptions are served (WebSocket, `graphql-transport-ws`).
pub const WS_PATH: &str = "/graphql/ws";
/// Deepest selection a document may nest (GraphiQL's introspection fits).
pub const MAX_DEPTH: usize = 16;
pub use limits::{MAX_COMPLEXITY, MAX_ERROR_MESSAGE_CHARS, MAX_RESPONSE_BYTES};

/// The schema type.
pub type AdminSchema =
    Schema<query::QueryRoot, mutation::MutationRoot, subscription::SubscriptionRoot>;

/// The schema with its limits (no data attached).
pub fn schema() -> AdminSchema {
    Schema::build(
        query::QueryRoot,
        mutation::MutationRoot,
        subscription::SubscriptionRoot,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    // Outermost first: the response budget sees the answer last.
    .extension(limits::DocumentLimits)
    .extension(nullability::NullPropagation)
    .finish()
}

/// The schema's SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema().sdl()
}

/// The application state inside a resolver.
pub(crate) fn app<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<AppState>()
}

/// The request's batch loaders inside a resolver.
pub(crate) fn batch<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a batch::Batch> {
    ctx.data::<batch::Batch>()
}

/// The caller inside a resolver.
pub(crate) fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data::<Principal>()
}

/// `/graphql`: POST runs documents; GET serves GraphiQL when `playground`.
/// `/graphql/ws`: subscriptions.
pub fn router(playground: bool) -> axum::Router<AppState> {
    let schema = schema();
    let for_post = schema.clone();
    let mut route = post(move |state: State<AppState>, req: Request| {
        let schema = for_post.clone();
        async move { execute(schema, state.0, req).await }
    });
    if playground {
        route = route.get(|| async {
            Html(
                GraphiQLSource::build()
                    .endpoint(PATH)
                    .subscription_endpoint(WS_PATH)
                    .finish(),
            )
        });
    }
    let ws = get(
        move |state: State<AppState>,
              protocol: GraphQLProtocol,
              upgrade: WebSocketUpgrade,
              req: Request| {
            let schema = schema.clone();
            async move { subscribe(schema, state.0, protocol, upgrade, req).await }
        },
    );
    axum::Router::new().route(PATH, route).route(WS_PATH, ws)
}

/// What every operation of a request runs with.
fn request_data(app: AppState, principal: Principal) -> Data {
    let mut data = Data::default();
    data.insert(app);
    data.insert(principal);
    data.insert(batch::Batch::default());
    data
}

/// The `Authorization` value a socket authenticated with: its
/// subscriptions check it again before each event they deliver, so a
/// revoked key or an expired JWT stops the flow.
#[derive(Clone)]
pub(crate) struct SocketCredential(crate::secret::Secret<String>);

impl SocketCredential {
    /// The principal this credential stands for now, or why it no longer does.
    pub(crate) async fn authenticate(&self, app: &AppState) -> crate::error::Result<Principal> {
        authenticate_header(app, self.0.expose()).await
    }
}

/// Authenticates an `Authorization` header value (`Bearer …`).
async fn authenticate_header(app: &AppState, value: &str) -> crate::error::Result<Principal> {
    let mut request = axum::http::Request::new(());
    if let Ok(value) = axum::http::HeaderValue::from_str(value) {
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let (parts, ()) = request.into_parts();
    crate::http::authenticate(app, &parts).await
}

/// [`request_data`] for a socket, with the credential it authenticated with.
fn socket_data(app: AppState, principal: Principal, credential: Option<&str>) -> Data {
    let mut data = request_data(app, principal);
    if let Some(credential) = credential.filter(|c| !c.is_empty()) {
        data.insert(SocketCredential(crate::secret::Secret::new(
            credential.to_owned(),
        )));
    }
    data
}

/// The principal of a WebSocket whose upgrade carried no `Authorization`
/// (browsers cannot set one): `connection_init`'s payload
/// `{"Authorization": "Bearer …"}`; without one, the upgrade's anonymous
/// session when those are on.
async fn principal_from_init(
    app: &AppState,
    payload: serde_json::Value,
    anonymous: Option<Principal>,
) -> async_graphql::Result<Data> {
    let value = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if value.is_empty()
        && let Some(principal) = anonymous
    {
        return Ok(socket_data(app.clone(), principal, None));
    }
    let principal = authenticate_header(app, value)
        .await
        .map_err(error::to_gql)?;
    app.rate_limits().check(&principal).map_err(error::to_gql)?;
    Ok(socket_data(app.clone(), principal, Some(value)))
}

/// Upgrades to a `graphql-transport-ws` (or legacy `graphql-ws`) socket,
/// authenticated by the upgrade's `Authorization` header, else by the
/// `connection_init` payload, else (when those are on) as the anonymous
/// session of the upgrading client: a signed-in browser page, which cannot
/// set the header, keeps its own principal even where anonymous sessions
/// are allowed.
async fn subscribe(
    schema: AdminSchema,
    app: AppState,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let has_header = parts.headers.contains_key(AUTHORIZATION);
    // Anonymous sessions are keyed by the peer, which only the upgrade knows:
    // the fallback principal is made now and used only if the init payload
    // names no credential.
    let principal = if has_header || app.auth().anonymous.is_some() {
        let principal = match crate::http::authenticate(&app, &parts).await {
            Ok(principal) => principal,
            Err(err) if has_header => return error::http_error(err),
            // No anonymous session for this upgrade (another origin's page):
            // `connection_init` must carry a credential.
            Err(_) => return serve_socket(schema, app, protocol, upgrade, None, None),
        };
        if let Err(err) = app.rate_limits().check(&principal) {
            return error::http_error(err);
        }
        Some(principal)
    } else {
        None
    };
    let header = has_header.then(|| {
        parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    });
    serve_socket(schema, app, protocol, upgrade, principal, header)
}

/// Serves the socket as `principal` when the upgrade's `header`
/// authenticated it, else as whoever `connection_init` names (`principal`,
/// when given, being the anonymous fallback).
fn serve_socket(
    schema: AdminSchema,
    app: AppState,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
    principal: Option<Principal>,
    header: Option<String>,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let ws = GraphQLWebSocket::new(socket, schema, protocol);
            match (principal, header) {
                (Some(principal), Some(header)) => {
                    let data = socket_data(app, principal, Some(&header));
                    ws.with_data(data).serve().await
                }
                (anonymous, _) => {
                    ws.on_connection_init(move |payload| async move {
                        principal_from_init(&app, payload, anonymous).await
                    })
                    .serve()
                    .await
                }
            }
        })
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn bad_request(code: ErrorCode, message: impl Into<String>) -> Response {
    error::http_error(Error::BadRequest {
        code,
        message: message.into(),
    })
}

/// Authenticates (and rate-limits) like REST, reads the body within the
/// body limit, and runs the document as the principal.
async fn execute(schema: AdminSchema, app: AppState, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let principal = match crate::http::authenticate(&app, &parts).await {
        Ok(principal) => principal,
        Err(err) => return error::http_error(err),
    };
    tracing::Span::current().record("user", principal.user_id.as_str());
    if let Err(err) = app.rate_limits().check(&principal) {
        return error::http_error(err);
    }
    let req = Request::from_parts(parts, body);
    if !is_json(&req) {
        return bad_request(
            ErrorCode::UnsupportedMediaType,
            "send the document as `Content-Type: application/json`",
        );
    }
    let bytes = match Bytes::from_request(req, &app).await {
        Ok(bytes) => bytes,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return bad_request(
                ErrorCode::PayloadTooLarge,
                "the body is larger than http.max_body_bytes",
            );
        }
        Err(_) => return bad_request(ErrorCode::InvalidBody, "the body could not be read"),
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(err) => {
            return bad_request(
                ErrorCode::InvalidJson,
                format!(
                    "expected one {{\"query\", \"variables\", \"operationName\"}} object: {err}"
                ),
            );
        }
    };
    let response = schema
        .execute(
            request
                .data(app.clone())
                .data(principal)
                .data(batch::Batch::default()),
        )
        .await;
    // The budget counted while resolving is an estimate; the bytes are not.
    match serde_json::to_vec(&response) {
        Ok(body) if body.len() <= MAX_RESPONSE_BYTES => {
            ([(CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(_) => Json(limits::response_too_large()).into_response(),
        Err(err) => error::http_error(Error::Internal(err.into())),
    }
}
