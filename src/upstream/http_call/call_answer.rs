//! Reading the answer to a `tools/call` without trying every result type.
//!
//! rmcp's `ServerResult` is an untagged union of twenty result types, and
//! `CallToolResult` is the sixteenth: parsing an answer as a
//! `ServerJsonRpcMessage` buffers the result, then fails fifteen times
//! (each failure a formatted error) before it fits. The answer to a call
//! is almost always a plain tool result, so it is read as one directly
//! when that is what rmcp would make of it: a response to the call's id
//! whose result has only the fields of a tool result. rmcp's own
//! `CallToolResult` parser reads it, so the value is the one rmcp would
//! give. Anything else (another message, another id, other fields, an
//! error) is parsed as a whole message, as before.

use rmcp::model::{CallToolResult, RequestId, ServerJsonRpcMessage, ServerResult};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A JSON-RPC message, as far as telling a response from the rest.
#[derive(Deserialize)]
struct Envelope<'a> {
    id: Option<RequestId>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    method: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

/// The top-level names of a result object.
#[derive(Default)]
struct Fields {
    /// Every name is one of a tool result's.
    only_tool_result: bool,
    result_type: bool,
    meta: bool,
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a result object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields {
            only_tool_result: true,
            ..Fields::default()
        };
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match name.as_ref() {
                "content" | "structuredContent" | "isError" => {}
                "resultType" => fields.result_type = true,
                "_meta" => fields.meta = true,
                _ => fields.only_tool_result = false,
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(fields)
    }
}

/// What an upstream message is to the call with request `id`.
pub(crate) enum Read {
    /// The call's tool result, read directly.
    Result(ServerResult),
    /// Any other message (or an answer of another shape), parsed whole.
    Message(ServerJsonRpcMessage),
}

/// Reads `text`, one JSON-RPC message from the upstream of the call with
/// request `id`.
pub(crate) fn read(text: &[u8], id: &RequestId) -> Result<Read, serde_json::Error> {
    if let Some(result) = tool_result(text, id) {
        return Ok(Read::Result(ServerResult::CallToolResult(result)));
    }
    serde_json::from_slice(text).map(Read::Message)
}

/// The tool result `text` carries, when it is a plain response to `id`
/// whose result every earlier type of rmcp's union would refuse: each of
/// them needs a field a tool result does not have, except the end of a
/// subscription (`resultType` and `_meta`), which is left to rmcp.
fn tool_result(text: &[u8], id: &RequestId) -> Option<CallToolResult> {
    let envelope: Envelope<'_> = serde_json::from_slice(text).ok()?;
    if envelope.method.is_some() || envelope.error.is_some() || envelope.id.as_ref() != Some(id) {
        return None;
    }
    let result = envelope.result?.get();
    let fields: Fields = serde_json::from_str(result).ok()?;
    if !fields.only_tool_result || (fields.result_type && fields.meta) {
        return None;
    }
    serde_json::from_str(result).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn whole(text: &str) -> ServerJsonRpcMessage {
        serde_json::from_str(text).unwrap()
    }

    fn value(parsed: &impl serde::Serialize) -> serde_json::Value {
        serde_json::to_value(parsed).unwrap()
    }

    /// The direct reading gives what rmcp's own parse of the whole
    /// message gives, for every shape of tool result.
    #[test]
    fn a_tool_result_reads_as_rmcp_reads_it() {
        let id = RequestId::Number(1 << 40);
        for result in [
            json!({"content": [{"type": "text", "text": "hi"}]}),
            json!({"content": [], "isError": true}),
            json!({"isError": false}),
            json!({"structuredContent": null}),
            json!({"structuredContent": {"sum": 5}, "content": [{"type": "text", "text": "5"}]}),
            json!({"content": [{"type": "image", "data": "AAAA", "mimeType": "image/png"}], "_meta": {"k": 1}}),
            json!({"content": [], "resultType": "complete"}),
        ] {
            let text = json!({"jsonrpc": "2.0", "id": 1_i64 << 40, "result": result}).to_string();
            let Ok(Read::Result(direct)) = read(text.as_bytes(), &id) else {
                panic!("not read directly: {text}");
            };
            let rmcp::model::JsonRpcMessage::Response(response) = whole(&text) else {
                panic!("not a response: {text}");
            };
            assert!(matches!(direct, ServerResult::CallToolResult(_)));
            assert!(matches!(response.result, ServerResult::CallToolResult(_)));
            assert_eq!(value(&direct), value(&response.result), "{text}");
        }
    }

    /// Whatever is not plainly the call's tool result is parsed whole.
    #[test]
    fn everything_else_is_parsed_whole() {
        let id = RequestId::Number(7);
        for message in [
            // Another id.
            json!({"jsonrpc": "2.0", "id": 8, "result": {"content": []}}),
            // A task, an error, a notification, a request.
            json!({"jsonrpc": "2.0", "id": 7, "result": {"task": {"taskId": "t", "status": "working", "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:00Z", "ttl": null}}}),
            json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32602, "message": "no"}}),
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1}}),
            json!({"jsonrpc": "2.0", "id": 7, "method": "roots/list"}),
            // Fields of no tool result, and the end of a subscription.
            json!({"jsonrpc": "2.0", "id": 7, "result": {"content": [], "other": 1}}),
            json!({"jsonrpc": "2.0", "id": 7, "result": {"resultType": "complete", "_meta": {"io.modelcontextprotocol/subscriptionId": 1}}}),
        ] {
            let text = message.to_string();
            match read(text.as_bytes(), &id) {
                Ok(Read::Message(parsed)) => assert_eq!(value(&parsed), value(&whole(&text))),
                Ok(Read::Result(_)) => panic!("read directly: {text}"),
                Err(err) => panic!("unreadable: {text}: {err}"),
            }
        }
        assert!(read(b"{not json", &id).is_err());
    }
}
