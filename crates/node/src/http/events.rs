//! Waiting for new final blocks, instead of polling.
//!
//! - `GET /v1/head?after=H&wait_ms=W` (long poll): answers the head ([`HeadAnswer`]) as soon
//!   as its height is above `H`, or once `W` milliseconds have passed (at most
//!   `max_wait_ms`; without `W`, that cap) with whatever the head is then. Without `after` it
//!   answers at once.
//! - `GET /v1/events` (server-sent events): one `head` event with the current head at once,
//!   then one per new final head, each `id: <height>` and `data: <HeadAnswer JSON>`. When
//!   several blocks become final between two events only the newest is sent (the stream never
//!   buffers); a client that needs every block fetches the heights in between. A comment line
//!   is sent while nothing happens, more often than the connection idle timeout, so the
//!   connection stays open.
//!
//! Both take one of `max_subscribers` permits for as long as they wait; without one they answer
//! `503` with `Retry-After`. Both end when the server shuts down ([`Closing`]), so a waiting
//! client never holds a shutdown up.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{Query, State as AxState},
    response::sse::{Event, KeepAlive, Sse},
    Extension, Json,
};
use deai_api::{HeadAnswer, HeadQuery};
use deai_types::Height;
use futures::Stream;
use tokio::sync::{watch, OwnedSemaphorePermit};

use super::{Api, ApiError, Backend};

/// Set on every request by [`super::serve`]: becomes `true` when the server starts shutting
/// down.
#[derive(Clone, Debug)]
pub struct Closing(pub watch::Receiver<bool>);

/// Resolves when the server shuts down; never without a [`Closing`] (in-process routers).
async fn closed(closing: Option<Closing>) {
    match closing {
        Some(Closing(mut rx)) => {
            let _ = rx.wait_for(|closing| *closing).await;
        }
        None => std::future::pending().await,
    }
}

fn head_now<B: Backend>(api: &Api<B>) -> HeadAnswer {
    api.backend.read(|_, head| HeadAnswer::of(head))
}

fn permit<B: Backend>(api: &Api<B>) -> Result<OwnedSemaphorePermit, ApiError> {
    api.subscribers.clone().try_acquire_owned().map_err(|_| {
        ApiError::Unavailable(format!(
            "the node already serves its maximum of {} waiting clients (long polls and event \
             streams); retry later",
            api.max_subscribers
        ))
    })
}

/// `GET /v1/head`.
pub(super) async fn head<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Query(query): Query<HeadQuery>,
    closing: Option<Extension<Closing>>,
) -> Result<Json<HeadAnswer>, ApiError> {
    let now = head_now(&api);
    let Some(after) = query.after.filter(|after| now.height <= *after) else {
        return Ok(Json(now));
    };
    let _permit = permit(&api)?;
    let wait = Duration::from_millis(
        query
            .wait_ms
            .unwrap_or(api.max_wait_ms)
            .min(api.max_wait_ms),
    );
    let mut heads = api.backend.heads();
    tokio::select! {
        _ = tokio::time::timeout(wait, heads.wait_for(|height| *height > after)) => {}
        () = closed(closing.map(|Extension(c)| c)) => {}
    }
    Ok(Json(head_now(&api)))
}

/// What one event stream holds while it lives.
struct Subscription<B> {
    api: Arc<Api<B>>,
    heads: watch::Receiver<Height>,
    closing: Option<Closing>,
    /// Sent the current head yet?
    started: bool,
    _permit: OwnedSemaphorePermit,
}

/// `GET /v1/events`.
pub(super) async fn events<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    closing: Option<Extension<Closing>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let permit = permit(&api)?;
    let keep_alive = api.keep_alive;
    let subscription = Subscription {
        heads: api.backend.heads(),
        api,
        closing: closing.map(|Extension(c)| c),
        started: false,
        _permit: permit,
    };
    let stream = futures::stream::unfold(subscription, |mut sub| async move {
        if sub.started {
            let closing = sub.closing.clone();
            tokio::select! {
                changed = sub.heads.changed() => changed.ok()?,
                () = closed(closing) => return None,
            }
        }
        sub.started = true;
        sub.heads.borrow_and_update();
        let head = head_now(&sub.api);
        let event = Event::default()
            .event("head")
            .id(head.height.to_string())
            .data(serde_json::to_string(&head).unwrap_or_default());
        Some((Ok(event), sub))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(keep_alive)))
}
