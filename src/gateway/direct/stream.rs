//! The response stream of one direct call: what the call sends its client
//! while it runs ([`DirectStream`], the relay's [`CallStream`]), then its
//! answer ([`CallEvents`], the SSE events rmcp writes out).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::Stream;
use futures::future::BoxFuture;
use rmcp::ServiceError;
use rmcp::model::{
    CancelledNotification, CancelledNotificationParam, ClientCapabilities, ClientResult,
    InitializeRequestParams, RequestId, ServerJsonRpcMessage, ServerNotification, ServerRequest,
};
use rmcp::transport::streamable_http_server::session::{ServerSseMessage, SessionId};
use tokio::sync::{mpsc, oneshot};

use super::{Hello, Shared, lock};
use crate::upstream::relay::CallStream;

/// The response stream of one direct call (see [`CallStream`]).
pub(super) struct DirectStream {
    session: SessionId,
    tx: mpsc::UnboundedSender<ServerJsonRpcMessage>,
    hello: Option<Hello>,
    shared: Arc<Shared>,
}

impl DirectStream {
    /// The stream of a call in `session` whose messages go to `tx`; `hello`
    /// is the session's `initialize` params.
    pub(super) fn new(
        session: SessionId,
        tx: mpsc::UnboundedSender<ServerJsonRpcMessage>,
        hello: Option<Hello>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            session,
            tx,
            hello,
            shared,
        }
    }

    fn send(&self, message: ServerJsonRpcMessage) -> Result<(), ServiceError> {
        self.tx
            .send(message)
            .map_err(|_| ServiceError::TransportClosed)
    }
}

#[async_trait]
impl CallStream for DirectStream {
    fn capabilities(&self) -> Option<ClientCapabilities> {
        let hello = self.hello.as_ref()?;
        serde_json::from_str::<InitializeRequestParams>(hello.0.get())
            .ok()
            .map(|params| params.capabilities)
    }

    async fn notify(&self, notification: ServerNotification) -> Result<(), ServiceError> {
        self.send(ServerJsonRpcMessage::notification(notification))
    }

    async fn ask(
        &self,
        request: ServerRequest,
        stop: BoxFuture<'static, &'static str>,
    ) -> Result<ClientResult, ServiceError> {
        let id = RequestId::Number(self.shared.next_ask.fetch_add(1, Ordering::Relaxed));
        let key = (self.session.clone(), id.clone());
        let (answer_tx, answer_rx) = oneshot::channel();
        lock(&self.shared.asked).insert(key.clone(), answer_tx);
        let _asked = AskGuard {
            shared: self.shared.clone(),
            key,
        };
        self.send(ServerJsonRpcMessage::request(request, id.clone()))?;
        tokio::select! {
            answer = answer_rx => match answer {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(error)) => Err(ServiceError::McpError(error)),
                Err(_) => Err(ServiceError::TransportClosed),
            },
            reason = stop => {
                let cancelled = CancelledNotification::new(CancelledNotificationParam::new(
                    Some(id),
                    Some(reason.into()),
                ));
                // The stream may be gone already; nothing is waiting then.
                let _ = self.notify(cancelled.into()).await;
                Err(ServiceError::Cancelled { reason: Some(reason.into()) })
            }
        }
    }
}

/// Forgets a request sent to a client once its answer is in (or given up).
struct AskGuard {
    shared: Arc<Shared>,
    key: (SessionId, RequestId),
}

impl Drop for AskGuard {
    fn drop(&mut self) {
        lock(&self.shared.asked).remove(&self.key);
    }
}

/// A direct call's answer, boxed so that it can move to a task of its own.
type Answer = Pin<Box<dyn Future<Output = ServerJsonRpcMessage> + Send>>;

/// The SSE events of one direct call: what the call sends the client while
/// it runs, then its answer; the call runs as the stream is polled.
///
/// Dropped before its answer (the client closed the request), the call
/// runs on in a task of its own: a disconnect is not a cancellation, and
/// the client's `notifications/cancelled` for it, which may come after the
/// close, still finds it and tells the upstream.
pub(super) struct CallEvents {
    rx: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
    answer: Option<sync_wrapper::SyncWrapper<Answer>>,
    /// Messages to send before the stream ends.
    queued: std::collections::VecDeque<ServerJsonRpcMessage>,
}

impl CallEvents {
    /// The events of a call whose messages come through `rx` and whose
    /// answer `answer` resolves to.
    pub(super) fn new(
        rx: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
        answer: impl Future<Output = ServerJsonRpcMessage> + Send + 'static,
    ) -> Self {
        Self {
            rx,
            answer: Some(sync_wrapper::SyncWrapper::new(Box::pin(answer))),
            queued: std::collections::VecDeque::new(),
        }
    }
}

impl Drop for CallEvents {
    fn drop(&mut self) {
        let Some(answer) = self.answer.take() else {
            return;
        };
        // Outside a runtime (only when the process is ending) there is
        // nothing left to run it on.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(answer.into_inner());
        }
    }
}

impl Stream for CallEvents {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(message) = this.queued.pop_front() {
            return Poll::Ready(Some(ServerSseMessage::from_message(message)));
        }
        let Some(answer) = this.answer.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(Some(message)) = this.rx.poll_recv(cx) {
            return Poll::Ready(Some(ServerSseMessage::from_message(message)));
        }
        match answer.get_mut().as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(answer) => {
                this.answer = None;
                // What the call sent on its way out goes before its answer.
                while let Ok(message) = this.rx.try_recv() {
                    this.queued.push_back(message);
                }
                this.queued.push_back(answer);
                this.rx.close();
                let first = this.queued.pop_front().map(ServerSseMessage::from_message);
                Poll::Ready(first)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;
    use rmcp::model::{JsonRpcMessage, ProgressToken, ServerResult};
    use rmcp::model::{ProgressNotification, ProgressNotificationParam};
    use std::time::Duration;

    fn progress(step: f64) -> ServerJsonRpcMessage {
        ServerJsonRpcMessage::notification(
            ProgressNotification::new(ProgressNotificationParam::new(
                ProgressToken(RequestId::Number(1)),
                step,
            ))
            .into(),
        )
    }

    fn events(
        answer: impl Future<Output = ServerJsonRpcMessage> + Send + 'static,
    ) -> (mpsc::UnboundedSender<ServerJsonRpcMessage>, CallEvents) {
        let (tx, rx) = mpsc::unbounded_channel();
        let events = CallEvents {
            rx,
            answer: Some(sync_wrapper::SyncWrapper::new(Box::pin(answer))),
            queued: std::collections::VecDeque::new(),
        };
        (tx, events)
    }

    fn kind(event: &ServerSseMessage) -> &'static str {
        match event.message.as_deref() {
            Some(JsonRpcMessage::Notification(_)) => "note",
            Some(JsonRpcMessage::Response(_)) => "answer",
            _ => "other",
        }
    }

    #[tokio::test]
    async fn what_a_call_sends_comes_before_its_answer_and_the_stream_then_ends() {
        let (sender, sent) = tokio::sync::oneshot::channel();
        let (tx, events) = events(async move {
            let tx: mpsc::UnboundedSender<ServerJsonRpcMessage> = sent.await.expect("sender");
            tx.send(progress(1.0)).expect("open");
            tokio::task::yield_now().await;
            tx.send(progress(2.0)).expect("open");
            // Sent in the same poll as the answer: still before it.
            tx.send(progress(3.0)).expect("open");
            ServerJsonRpcMessage::response(ServerResult::empty(()), RequestId::Number(9))
        });
        sender.send(tx.clone()).expect("receiver");
        let kinds: Vec<_> = events.map(|e| kind(&e)).collect().await;
        assert_eq!(kinds, ["note", "note", "note", "answer"]);
        // Once the answer is out, nothing more can be sent on the stream.
        assert!(tx.send(progress(4.0)).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_stream_is_dropped_runs_on_to_its_end() {
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let (_tx, events) = events(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            done_tx.send(()).expect("the test waits");
            ServerJsonRpcMessage::response(ServerResult::empty(()), RequestId::Number(3))
        });
        // The client gives up while the call runs: the stream is dropped.
        let mut events = events;
        let early = tokio::time::timeout(Duration::from_secs(1), events.next()).await;
        assert!(early.is_err() && events.answer.is_some());
        drop(events);
        tokio::time::timeout(Duration::from_secs(5), done)
            .await
            .expect("the call ran on after its stream was dropped")
            .expect("and ended");
    }

    #[tokio::test]
    async fn a_plain_answer_is_the_only_event() {
        let (_tx, events) = events(async {
            ServerJsonRpcMessage::response(ServerResult::empty(()), RequestId::Number(1))
        });
        let kinds: Vec<_> = events.map(|e| kind(&e)).collect().await;
        assert_eq!(kinds, ["answer"]);
    }
}
