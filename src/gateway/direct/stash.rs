//! A `tools/call` read once.
//!
//! rmcp reads every POST body again as a client message, one of twenty-two
//! request types tried in turn, of which `tools/call` is the fourteenth.
//! The `/mcp` middleware has already read a plain call (see
//! `posted::checked_json`), so it hands rmcp a `ping` with the call's id in
//! its place and the call itself in the request's extensions; the session
//! manager puts the call back before anything serves it ([`unstash`]).
//!
//! rmcp's checks of a POST in a session read the message only for its
//! `_meta` protocol version and, from 2026-07-28 on, the standard headers
//! that must match its method. So a call is stashed only when neither
//! applies: no `protocolVersion` in its `_meta`, and an
//! `MCP-Protocol-Version` header (if any) naming a known revision before
//! 2026-07-28. Then the placeholder passes the same checks the call would,
//! with the same answers to the same failures (none names the method).

use axum::body::Body;
use axum::http::request::Parts;
use rmcp::model::{
    CallToolRequest, ClientJsonRpcMessage, ClientRequest, GetExtensions, JsonRpcMessage,
    JsonRpcRequest, ProtocolVersion, RequestMetaObject,
};

/// A plain `tools/call`, as the middleware read it.
pub type ToolCall = JsonRpcRequest<CallToolRequest>;

/// The call behind a placeholder `ping`.
#[derive(Debug, Clone)]
struct Stashed(ToolCall);

/// The placeholder to give rmcp instead of `call`'s body, with the call put
/// into `parts`; `None` when rmcp would read the two differently.
pub fn stash(parts: &mut Parts, call: ToolCall) -> Option<Body> {
    let meta = call.request.extensions.get::<RequestMetaObject>();
    if meta.is_some_and(|meta| meta.protocol_version().is_some()) {
        return None;
    }
    if let Some(version) = parts.headers.get("mcp-protocol-version") {
        let version = version.to_str().ok()?;
        let known = ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .any(|v| v.as_str() == version);
        if !known || version >= ProtocolVersion::STANDARD_HEADERS.as_str() {
            return None;
        }
    }
    let id = serde_json::to_string(&call.id).ok()?;
    let ping = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.extensions.insert(Stashed(call));
    Some(Body::from(ping))
}

/// `message`, or the call a placeholder stands for, with the HTTP request
/// parts rmcp attached.
pub(super) fn unstash(message: ClientJsonRpcMessage) -> ClientJsonRpcMessage {
    let JsonRpcMessage::Request(mut placeholder) = message else {
        return message;
    };
    if !matches!(placeholder.request, ClientRequest::PingRequest(_)) {
        return JsonRpcMessage::Request(placeholder);
    }
    let Some(mut parts) = placeholder.request.extensions_mut().remove::<Parts>() else {
        return JsonRpcMessage::Request(placeholder);
    };
    let Some(Stashed(call)) = parts.extensions.remove::<Stashed>() else {
        placeholder.request.extensions_mut().insert(parts);
        return JsonRpcMessage::Request(placeholder);
    };
    let mut request = ClientRequest::CallToolRequest(call.request);
    request.extensions_mut().insert(parts);
    JsonRpcMessage::Request(JsonRpcRequest::new(call.id, request))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rmcp::model::{GetMeta, NumberOrString};

    fn call(raw: &str) -> ToolCall {
        serde_json::from_str(raw).unwrap()
    }

    fn parts(version: Option<&str>) -> Parts {
        let mut request = axum::http::Request::builder().header("content-length", "99");
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        request.body(()).unwrap().into_parts().0
    }

    /// What rmcp hands the session manager for `body` posted with `parts`.
    async fn as_rmcp_reads(body: Body, parts: Parts) -> ClientJsonRpcMessage {
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let mut message: ClientJsonRpcMessage = serde_json::from_slice(&bytes).unwrap();
        if let JsonRpcMessage::Request(request) = &mut message {
            request.request.extensions_mut().insert(parts);
        }
        message
    }

    #[tokio::test]
    async fn a_stashed_call_comes_back_whole_behind_a_ping_with_its_id() {
        let raw = r#"{"jsonrpc":"2.0","id":"c-7","method":"tools/call",
            "params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"progressToken":5}}}"#;
        let mut parts = parts(Some("2025-06-18"));
        let ping = stash(&mut parts, call(raw)).expect("stashed");
        assert!(parts.headers.get("content-length").is_none());
        let placeholder = as_rmcp_reads(ping, parts).await;
        let JsonRpcMessage::Request(request) = &placeholder else {
            panic!("a request: {placeholder:?}");
        };
        assert!(matches!(request.request, ClientRequest::PingRequest(_)));
        assert_eq!(request.id, NumberOrString::String("c-7".into()));

        let JsonRpcMessage::Request(back) = unstash(placeholder) else {
            panic!("a request");
        };
        assert_eq!(back.id, NumberOrString::String("c-7".into()));
        let ClientRequest::CallToolRequest(back_call) = &back.request else {
            panic!("the call: {:?}", back.request);
        };
        let sent = call(raw).request;
        assert_eq!(back_call.params, sent.params);
        assert_eq!(
            back.request.get_meta().get_progress_token(),
            Some(rmcp::model::ProgressToken(NumberOrString::Number(5)))
        );
        let parts = back.request.extensions().get::<Parts>().expect("parts");
        assert!(parts.extensions.get::<Stashed>().is_none());
        assert_eq!(parts.headers["mcp-protocol-version"], "2025-06-18");
    }

    #[test]
    fn a_call_rmcp_reads_for_more_than_its_id_is_not_stashed() {
        let plain = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e"}}"#;
        let versioned = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"e","_meta":{"io.modelcontextprotocol/protocolVersion":"2025-06-18"}}}"#;
        assert!(stash(&mut parts(None), call(plain)).is_some());
        assert!(stash(&mut parts(Some("2025-11-25")), call(plain)).is_some());
        for version in ["2026-07-28", "2099-01-01", "bogus"] {
            let mut parts = parts(Some(version));
            assert!(stash(&mut parts, call(plain)).is_none(), "{version}");
            assert!(parts.extensions.get::<Stashed>().is_none());
            assert_eq!(parts.headers["content-length"], "99");
        }
        let versioned_call = call(versioned);
        let has_version = versioned_call
            .request
            .extensions
            .get::<RequestMetaObject>()
            .is_some_and(|m| m.protocol_version().is_some());
        assert!(has_version, "the test's call declares a version");
        assert!(stash(&mut parts(None), versioned_call).is_none());
    }

    #[tokio::test]
    async fn a_real_ping_passes_unchanged() {
        let ping = Body::from(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
        let message = unstash(as_rmcp_reads(ping, parts(None)).await);
        let JsonRpcMessage::Request(request) = message else {
            panic!("a request");
        };
        assert!(matches!(request.request, ClientRequest::PingRequest(_)));
        assert!(request.request.extensions().get::<Parts>().is_some());
    }
}
