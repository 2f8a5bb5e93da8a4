//! How the answer to an MCP POST leaves the gateway.
//!
//! rmcp answers every request in a session with an SSE stream whose head
//! it hands out at once: the head went out in one write, and the answer,
//! a moment later, in a second. [`one_write`] holds the head until the
//! stream's first event (at most [`HOLD`]), so that both go out together;
//! and when that event is the whole answer (one JSON-RPC response, no event
//! id, the stream over) it answers `application/json` instead, as the MCP
//! transport lets a server answer any request of a client that accepts
//! both (rmcp insists that clients do). A call still running after
//! [`HOLD`], or one that sends progress or asks its client something
//! first, gets its SSE stream as before.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, SizeHint};

/// How long a POST's SSE head waits for the stream's first event: long
/// enough for the answer of a quick call, short next to any client's wait
/// for a response head (minutes) and to rmcp's SSE keep-alive (15 s).
pub const HOLD: Duration = Duration::from_secs(1);

/// `response` (rmcp's answer to a POST), its head held for the first event
/// of its SSE stream; `application/json` when that event is all there is.
pub async fn one_write(response: Response) -> Response {
    let streams = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    if response.status() != StatusCode::OK || !streams {
        return response;
    }
    let (mut parts, mut body) = response.into_parts();
    let first = match tokio::time::timeout(HOLD, body.frame()).await {
        // Nothing yet: the head goes out now, the events as they come.
        Err(_) => return Response::from_parts(parts, body),
        Ok(None) => return Response::from_parts(parts, Body::empty()),
        Ok(Some(first)) => first,
    };
    // Whether the stream is over already (then the end goes out with the
    // event, or the event is the whole answer), or has more to send now.
    let mut next = None;
    let over = body.is_end_stream()
        || match Pin::new(&mut body).poll_frame(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(None) => true,
            Poll::Ready(Some(frame)) => {
                next = Some(frame);
                false
            }
            Poll::Pending => false,
        };
    let first = match first {
        Ok(frame) => frame,
        Err(err) => return Response::from_parts(parts, Body::new(Resumed::error(err))),
    };
    let first = match first.into_data() {
        Ok(data) if over => match lone_answer(&data) {
            Some(json) => {
                parts.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                parts.headers.remove(header::CACHE_CONTROL);
                parts.headers.remove("x-accel-buffering");
                return Response::from_parts(parts, Body::from(data.slice(json)));
            }
            None => Frame::data(data),
        },
        Ok(data) => Frame::data(data),
        Err(frame) => frame,
    };
    let rest = (!over).then_some(body);
    Response::from_parts(parts, Body::new(Resumed::new(first, next, rest)))
}

/// Where the JSON of `event` lies when it is one SSE event of nothing but
/// one `data` line holding a JSON-RPC response or error, as rmcp writes it
/// (`data: ` + the message serialized on one line + a blank line).
fn lone_answer(event: &[u8]) -> Option<std::ops::Range<usize>> {
    let json = event.strip_prefix(b"data: ")?.strip_suffix(b"\n\n")?;
    if json.contains(&b'\n') || json.contains(&b'\r') {
        return None;
    }
    is_response(json).then_some(6..6 + json.len())
}

/// Whether `json`, a JSON-RPC message as serde writes rmcp's, is a response
/// or an error: `{"jsonrpc":"2.0","id":ID,` then `"result"` or `"error"`
/// (a request has `"method"` there, a notification has no id).
fn is_response(json: &[u8]) -> bool {
    let Some(rest) = json.strip_prefix(br#"{"jsonrpc":"2.0","id":"#) else {
        return false;
    };
    let after_id = match rest.first() {
        Some(b'"') => {
            let mut escaped = false;
            let end = rest[1..].iter().position(|&b| {
                let closes = b == b'"' && !escaped;
                escaped = b == b'\\' && !escaped;
                closes
            });
            match end {
                Some(end) => &rest[end + 2..],
                None => return false,
            }
        }
        _ => {
            let digits = rest
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'-')
                .count();
            &rest[digits..]
        }
    };
    after_id.starts_with(br#","result":"#) || after_id.starts_with(br#","error":"#)
}

/// A frame as a body yields it.
type Polled = Result<Frame<Bytes>, axum::Error>;

/// A body whose first frames were read already: those, then the rest.
struct Resumed {
    first: Option<Polled>,
    next: Option<Polled>,
    rest: Option<Body>,
}

impl Resumed {
    fn new(first: Frame<Bytes>, next: Option<Polled>, rest: Option<Body>) -> Self {
        Self {
            first: Some(Ok(first)),
            next,
            rest,
        }
    }

    fn error(err: axum::Error) -> Self {
        Self {
            first: Some(Err(err)),
            next: None,
            rest: None,
        }
    }
}

impl hyper::body::Body for Resumed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Some(first) = self.first.take().or_else(|| self.next.take()) {
            return Poll::Ready(Some(first));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none()
            && self.next.is_none()
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let len = |frame: &Option<Polled>| match frame {
            Some(Ok(frame)) => frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => 0,
        };
        let first = len(&self.first) + len(&self.next);
        match &self.rest {
            None => SizeHint::with_exact(first),
            Some(rest) => {
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + first);
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + first);
                }
                hint
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sse(body: Body) -> Response {
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(body)
            .unwrap()
    }

    fn events(events: Vec<&'static str>) -> Body {
        let frames = events
            .into_iter()
            .map(|e| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(e))));
        Body::new(http_body_util::StreamBody::new(futures::stream::iter(
            frames,
        )))
    }

    async fn read(response: Response) -> (String, Vec<u8>) {
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (content_type, body.to_vec())
    }

    #[test]
    fn only_a_lone_response_or_error_reads_as_the_whole_answer() {
        let answers = [
            (r#"{"jsonrpc":"2.0","id":7,"result":{}}"#, true),
            (r#"{"jsonrpc":"2.0","id":-1,"error":{"code":1}}"#, true),
            (r#"{"jsonrpc":"2.0","id":"a\"b,\\","result":{"x":1}}"#, true),
            (
                r#"{"jsonrpc":"2.0","id":"r","method":"sampling/createMessage"}"#,
                false,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#,
                false,
            ),
            (r#"{"jsonrpc":"2.0","id":"unclosed"#, false),
        ];
        for (json, whole) in answers {
            let event = format!("data: {json}\n\n");
            assert_eq!(
                lone_answer(event.as_bytes()).map(|r| &event[r]),
                whole.then_some(json),
                "{json}"
            );
        }
        for event in [
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\nid: 0/1\n\n",
            "data: \nid: 0/1\nretry: 3000\n\n",
            ":\n\n",
            "event: x\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
        ] {
            assert!(lone_answer(event.as_bytes()).is_none(), "{event:?}");
        }
    }

    #[tokio::test]
    async fn a_stream_of_one_answer_becomes_json() {
        let answer = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#;
        let response = one_write(sse(events(vec![
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n",
        ])))
        .await;
        assert!(response.headers().get(header::CACHE_CONTROL).is_none());
        assert_eq!(
            response.body().size_hint().exact(),
            Some(answer.len() as u64)
        );
        let (content_type, body) = read(response).await;
        assert_eq!(content_type, "application/json");
        assert_eq!(body, answer.as_bytes());
    }

    #[tokio::test]
    async fn progress_first_keeps_the_stream_whole_and_in_order() {
        let events = vec![
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
        ];
        let whole = events.concat();
        let (content_type, body) = read(one_write(sse(self::events(events))).await).await;
        assert_eq!(content_type, "text/event-stream");
        assert_eq!(body, whole.as_bytes());
    }

    #[tokio::test]
    async fn an_event_with_an_id_stays_an_event() {
        let event = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\nid: 0/1\n\n";
        let (content_type, body) = read(one_write(sse(events(vec![event]))).await).await;
        assert_eq!(content_type, "text/event-stream");
        assert_eq!(body, event.as_bytes());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_stream_gets_its_head_after_the_hold_and_its_events_later() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Frame<Bytes>, std::io::Error>>();
        let body = Body::new(http_body_util::StreamBody::new(rx));
        let started = tokio::time::Instant::now();
        let response = one_write(sse(body)).await;
        assert_eq!(started.elapsed(), HOLD, "the head waited the hold, no more");
        let event = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        tx.unbounded_send(Ok(Frame::data(Bytes::from(event))))
            .unwrap();
        drop(tx);
        let (content_type, body) = read(response).await;
        assert_eq!(content_type, "text/event-stream");
        assert_eq!(body, event.as_bytes());
    }

    #[tokio::test]
    async fn other_answers_pass_untouched() {
        let json = Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(read(one_write(json).await).await.1, b"{}");
        let refused = Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from("x"))
            .unwrap();
        let refused = one_write(refused).await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND);
        assert_eq!(read(refused).await.1, b"x");
    }
}
