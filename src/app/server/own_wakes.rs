//! [`OwnWakes`]: a connection's task takes the wake-ups it gives itself
//! while it runs without going back through the scheduler.
//!
//! A connection's task drives everything of its requests: hyper's
//! connection, the request body, the answer's stream and, for a direct
//! call, the upstream's HTTP/1.1 connection. Those parts talk over
//! channels whose ends are all polled by this one task, so each hand-off
//! wakes the task while it is still running. Tokio then queues the task
//! again as if it had yielded and rouses an idle worker thread to steal it:
//! a futex call on each side and a context switch or two, several times per
//! proxied call. [`OwnWakes`] polls the connection with a waker of its own:
//! a wake-up that comes while the connection is being polled only marks it
//! for another poll, done at once; one that comes at any other time wakes
//! the task as usual.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// How many polls in a row one poll of the task makes at most, when the
/// connection keeps waking itself; then the task yields as tokio would
/// have made it.
const POLLS_IN_A_ROW: usize = 16;

/// `F`, its own wake-ups taken in place (see the module docs).
pub(super) struct OwnWakes<F> {
    inner: Pin<Box<F>>,
    state: Arc<State>,
    waker: Waker,
}

/// What the connection's waker shares with its poller.
#[derive(Default)]
struct State {
    /// The connection is being polled.
    polling: AtomicBool,
    /// It was woken since its last poll began.
    woken: AtomicBool,
    /// The task's own waker.
    task: AtomicWaker,
}

impl Wake for State {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}

impl<F: Future> OwnWakes<F> {
    pub(super) fn new(inner: F) -> Self {
        let state = Arc::new(State::default());
        Self {
            inner: Box::pin(inner),
            waker: Waker::from(state.clone()),
            state,
        }
    }

    /// The connection itself (for a graceful shutdown).
    pub(super) fn inner(&mut self) -> Pin<&mut F> {
        self.inner.as_mut()
    }
}

impl<F: Future> Future for OwnWakes<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        this.state.task.register(cx.waker());
        let mut own = Context::from_waker(&this.waker);
        for _ in 0..POLLS_IN_A_ROW {
            this.state.woken.store(false, Ordering::SeqCst);
            this.state.polling.store(true, Ordering::SeqCst);
            let polled = this.inner.as_mut().poll(&mut own);
            this.state.polling.store(false, Ordering::SeqCst);
            if polled.is_ready() {
                return polled;
            }
            // A wake-up from another thread after `polling` went false has
            // woken the task already; this poll is then merely early.
            if !this.state.woken.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A future that wakes itself `times` times while polled, then is done;
    /// counts its polls.
    struct SelfWaking {
        times: usize,
        polls: Arc<AtomicUsize>,
    }

    impl Future for SelfWaking {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.times == 0 {
                return Poll::Ready(());
            }
            self.times -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    /// Counts the wake-ups the task gets.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wake_ups_during_a_poll_are_polled_again_at_once() {
        let polls = Arc::new(AtomicUsize::new(0));
        let mut own = std::pin::pin!(OwnWakes::new(SelfWaking {
            times: 3,
            polls: polls.clone(),
        }));
        let task = Arc::new(Count::default());
        let waker = Waker::from(task.clone());
        let polled = own.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(polled.is_ready());
        assert_eq!(polls.load(Ordering::SeqCst), 4);
        assert_eq!(task.0.load(Ordering::SeqCst), 0, "the task was woken");
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_to_the_task() {
        let polls = Arc::new(AtomicUsize::new(0));
        let mut own = std::pin::pin!(OwnWakes::new(SelfWaking {
            times: POLLS_IN_A_ROW * 2,
            polls: polls.clone(),
        }));
        let task = Arc::new(Count::default());
        let waker = Waker::from(task.clone());
        assert!(
            own.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        assert_eq!(polls.load(Ordering::SeqCst), POLLS_IN_A_ROW);
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the task must run again");
    }

    #[tokio::test]
    async fn a_wake_up_between_polls_wakes_the_task() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let waiting = tokio::spawn(OwnWakes::new(rx));
        tokio::task::yield_now().await;
        tx.send(7).expect("the receiver waits");
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("the task was never woken")
            .expect("it ran");
        assert_eq!(got, Ok(7));
    }
}
