//! Reopening a session's broken links.
//!
//! A link that breaks without being closed on purpose (the upstream
//! restarted, crashed, dropped the connection, forgot the session, or
//! stopped answering pings) reports [`LinkEvent::Lost`]; [`lost`] then:
//! 1. forgets the dead link (only if the slot still holds that very link);
//! 2. stores `RECONNECTING` with the reason (only if the server is still
//!    `CONNECTED`: a server disconnected meanwhile stays disconnected) and
//!    publishes the change;
//! 3. starts one reconnection loop for the slot: exponential back-off with
//!    jitter (first attempt within 1 s, at most
//!    `upstream.reconnect_max_delay_seconds` apart). While the last attempt
//!    found nothing listening, a network upstream's port is probed every
//!    500 ms, so an upstream that comes back is used at once whatever the
//!    back-off. Each attempt opens a link, pings it and reads its tools;
//!    success stores `CONNECTED` with the tools and publishes (clients get
//!    `list_changed`); after `upstream.reconnect_give_up_seconds` of
//!    failures the server is `FAILED` with the last error.
//!
//! A disconnect, a manual connect or shutdown stops the loop
//! ([`Slot::end_reconnect`]); so does a server no longer `RECONNECTING`
//! in the state store (another replica disconnected it).
//!
//! [`LinkEvent::Lost`]: crate::upstream::relay::LinkEvent::Lost

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorCode, Result};
use crate::ids::SessionId;
use crate::session::ConnectionStatus;
use crate::session::manager::events::{LinkContext, SessionLinkEvents, fetch_tools};
use crate::upstream::pool::{LinkPool, Slot};
use crate::upstream::{self, Link, Target};

/// The first back-off step; attempts wait 0.25, 0.5, 1, 2, 4 … s (each
/// with jitter down to half), capped by the configured maximum.
const FIRST_DELAY: Duration = Duration::from_millis(250);
/// How often a down network upstream's port is probed between attempts.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Opens a link for (session, `target`) into the locked `slot`, within the
/// pool's limits, with an event sink that reopens it when it breaks.
pub(super) async fn open_into(
    context: &LinkContext,
    pool: &LinkPool,
    slot: &mut Option<Arc<Link>>,
    session: &SessionId,
    target: &Target,
) -> Result<Arc<Link>> {
    pool.close_slot(slot).await;
    let reservation = pool.reserve(target.transport())?;
    let events = Arc::new(SessionLinkEvents::new(
        context.clone(),
        session.clone(),
        target.clone(),
    ));
    let link = upstream::open_with_events(target, &context.options.link, Some(events)).await?;
    Ok(pool.store(slot, link, reservation))
}

/// A redacted, human message for a failed attempt.
pub(super) fn failure_message(err: &Error) -> String {
    match err {
        Error::Upstream { message, .. } => message.clone(),
        Error::Unavailable { what, .. } => format!("{what} is unavailable"),
        Error::Internal(_) => "internal error".to_owned(),
        other => other.to_string(),
    }
}

/// Handles the loss of link `link` of (session, `target`): see the module doc.
pub(super) async fn lost(
    context: LinkContext,
    session: SessionId,
    target: Target,
    link: u64,
    reason: String,
) {
    let Some(pool) = context.pool.upgrade() else {
        return;
    };
    let server = target.name.clone();
    let slot = pool.slot(&session, &server);
    let step_up = {
        let mut guard = slot.link.lock().await;
        let Some(held) = guard.as_ref().filter(|held| held.health().id == link) else {
            tracing::debug!("the lost link was already replaced or closed");
            return;
        };
        let step_up = held
            .oauth
            .as_ref()
            .is_some_and(|auth| auth.wants_more_scope());
        pool.close_slot(&mut guard).await;
        step_up
    };
    let reason = target.redact(&reason);
    let state = &context.state;
    if step_up {
        // Reopening cannot help: the user must grant more scope first.
        let message = format!("{server}: the upstream asks for more OAuth scope");
        if let Err(err) = state.set_failed(&session, server.as_str(), &message).await {
            tracing::warn!(error = %err, "could not record the failed upstream");
        }
        context.notifier.publish(&session);
        return;
    }
    match state
        .set_reconnecting(&session, server.as_str(), &reason)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!("the server is no longer connected; not reopening");
            return;
        }
        Err(err) => {
            // Without the state store nobody could see the status; the
            // loop below retries and records what it can.
            tracing::warn!(error = %err, "could not record RECONNECTING");
        }
    }
    context.notifier.publish(&session);
    let Some(stop) = slot.begin_reconnect(&reason) else {
        return;
    };
    tracing::warn!(reason = %reason, "upstream link broke; reconnecting");
    tokio::spawn(run(context, session, target, slot, stop));
}

/// The reconnection loop of one slot.
async fn run(
    context: LinkContext,
    session: SessionId,
    target: Target,
    slot: Arc<Slot>,
    stop: CancellationToken,
) {
    let server = target.name.as_str();
    let link_options = &context.options.link;
    let max_delay = context.options.reconnect_max_delay.max(FIRST_DELAY);
    let give_up = context.options.reconnect_give_up;
    let started = Instant::now();
    let mut attempt: u32 = 0;
    let mut refused = true;
    loop {
        let delay = backoff(attempt, max_delay);
        let retry_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        slot.reconnect_pending(None, Some(retry_at));
        let wait = wait_or_probe(&target, link_options, delay, refused);
        tokio::select! {
            () = stop.cancelled() => return,
            () = wait => {}
        }
        attempt = attempt.saturating_add(1);
        match context.state.status(&session, server).await {
            Ok(ConnectionStatus::Reconnecting) => {}
            Ok(_) => {
                tracing::info!("the server is no longer reconnecting; stopping");
                slot.end_reconnect(false);
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the state store; retrying later");
                continue;
            }
        }
        let Some(pool) = context.pool.upgrade() else {
            return;
        };
        let attempted = {
            let mut guard = slot.link.lock().await;
            if stop.is_cancelled() {
                return;
            }
            attempt_once(&context, &pool, &mut guard, &session, &target).await
        };
        match attempted {
            Ok(tools) => {
                let at = Utc::now().trunc_subsecs(6);
                // A disconnect may have raced the attempt: only a server
                // still reconnecting becomes connected.
                if !matches!(
                    context.state.status(&session, server).await,
                    Ok(ConnectionStatus::Reconnecting)
                ) || stop.is_cancelled()
                {
                    let mut guard = slot.link.lock().await;
                    pool.close_slot(&mut guard).await;
                    slot.end_reconnect(false);
                    return;
                }
                if let Err(err) = context
                    .state
                    .set_connected(&session, server, &tools, at)
                    .await
                {
                    tracing::warn!(error = %err, "could not record the reconnection; retrying");
                    continue;
                }
                slot.end_reconnect(true);
                crate::metrics::reconnect(server, "ok");
                context.notifier.publish(&session);
                tracing::info!(
                    attempts = attempt,
                    down_ms = started.elapsed().as_millis() as u64,
                    tools = tools.len(),
                    "upstream link reconnected"
                );
                return;
            }
            Err(err) => {
                let message = failure_message(&err);
                refused = err.code() == ErrorCode::UpstreamUnreachable;
                if started.elapsed() >= give_up {
                    tracing::warn!(
                        attempts = attempt,
                        error = %message,
                        "upstream still unreachable; giving up (FAILED)"
                    );
                    if let Err(err) = context.state.set_failed(&session, server, &message).await {
                        tracing::warn!(error = %err, "could not record FAILED");
                    }
                    crate::metrics::reconnect(server, "gave_up");
                    slot.end_reconnect(false);
                    context.notifier.publish(&session);
                    return;
                }
                tracing::debug!(attempts = attempt, error = %message, "reconnect attempt failed");
                crate::metrics::reconnect(server, "failed");
                slot.reconnect_pending(Some(&message), None);
                match context
                    .state
                    .set_reconnecting(&session, server, &message)
                    .await
                {
                    Ok(false) => {
                        slot.end_reconnect(false);
                        return;
                    }
                    Ok(true) => context.notifier.publish(&session),
                    Err(err) => tracing::warn!(error = %err, "could not record the attempt"),
                }
            }
        }
    }
}

/// One attempt: a link opened (unless another connect already did), pinged
/// and its tools read; a link whose tools cannot be read is closed again.
async fn attempt_once(
    context: &LinkContext,
    pool: &LinkPool,
    guard: &mut Option<Arc<Link>>,
    session: &SessionId,
    target: &Target,
) -> Result<Vec<serde_json::Value>> {
    let link = match guard.as_ref().filter(|link| !link.is_closed()) {
        Some(link) => link.clone(),
        None => open_into(context, pool, guard, session, target).await?,
    };
    match fetch_tools(target, link.peer(), context.options.tool_fetch_timeout).await {
        Ok(tools) => Ok(tools),
        Err(err) => {
            pool.close_slot(guard).await;
            Err(err)
        }
    }
}

/// The wait before attempt `attempt` (from 0): 250 ms doubling, capped at
/// `max`, with jitter down to half.
fn backoff(attempt: u32, max: Duration) -> Duration {
    let full = FIRST_DELAY
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(max);
    full.mul_f64(0.5 + jitter() / 2.0)
}

/// A number in [0, 1), different on every call (std's per-hasher random
/// keys; jitter needs no better randomness).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Sleeps `delay`; for a network upstream that refused last time, ends
/// early as soon as its port accepts connections again.
async fn wait_or_probe(
    target: &Target,
    options: &upstream::LinkOptions,
    delay: Duration,
    refused: bool,
) {
    let address = target
        .url()
        .and_then(|url| Some((url.host_str()?.to_owned(), url.port_or_known_default()?)));
    let (Some((host, port)), true) = (address, refused) else {
        tokio::time::sleep(delay).await;
        return;
    };
    let deadline = tokio::time::Instant::now() + delay;
    loop {
        let next = tokio::time::Instant::now() + PROBE_EVERY;
        if next >= deadline {
            tokio::time::sleep_until(deadline).await;
            return;
        }
        tokio::time::sleep_until(next).await;
        if listening(options, &host, port).await {
            return;
        }
    }
}

/// Whether something accepts TCP connections at `host:port` (egress rules
/// apply), within a second.
async fn listening(options: &upstream::LinkOptions, host: &str, port: u16) -> bool {
    let Ok(addrs) = options.egress.resolve(host, port).await else {
        return false;
    };
    for addr in addrs {
        let connect = tokio::net::TcpStream::connect(addr);
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_under_a_second_doubles_and_stays_under_the_cap() {
        let max = Duration::from_secs(30);
        let first = backoff(0, max);
        assert!(
            first >= FIRST_DELAY / 2 && first <= FIRST_DELAY,
            "{first:?}"
        );
        let fourth = backoff(3, max);
        assert!(
            fourth >= Duration::from_secs(1) && fourth <= Duration::from_secs(2),
            "{fourth:?}"
        );
        for attempt in [10, 20, 1000] {
            let late = backoff(attempt, max);
            assert!(late <= max && late >= max / 2, "{attempt}: {late:?}");
        }
    }
}
