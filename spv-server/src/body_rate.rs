//! A request body that must keep arriving: after a grace period, at least a minimum
//! rate on average since it began (`SPV_BODY_MIN_RATE_BYTES`, `SPV_BODY_RATE_GRACE_SECS`).
//!
//! A body that falls behind ends with an error the handler sees as a failed read; the
//! [`SlowBody`] flag it raises lets the server answer 408 (and close the connection)
//! whatever the handler made of that error.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use hyper::body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

pin_project_lite::pin_project! {
    /// `inner`, failed once it arrives slower than `rate` bytes per second on average
    /// after `grace`.
    pub(crate) struct MinRate<B> {
        #[pin]
        inner: B,
        #[pin]
        deadline: Sleep,
        started: Instant,
        received: u64,
        rate: u64,
        grace: Duration,
        slow: SlowBody,
    }
}

/// Raised when a [`MinRate`] body fell behind (shared with the request's future).
#[derive(Clone, Debug, Default)]
pub(crate) struct SlowBody(Arc<AtomicBool>);

impl SlowBody {
    pub(crate) fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The error of a body that fell behind.
#[derive(Debug)]
pub(crate) struct TooSlow {
    rate: u64,
}

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body arrived slower than {} bytes per second (SPV_BODY_MIN_RATE_BYTES)",
            self.rate
        )
    }
}

impl std::error::Error for TooSlow {}

impl<B> MinRate<B> {
    /// `inner` under the minimum `rate` (bytes per second, from 1) after `grace`.
    pub(crate) fn new(inner: B, rate: u64, grace: Duration, slow: SlowBody) -> Self {
        let started = Instant::now();
        MinRate {
            inner,
            deadline: tokio::time::sleep_until(started + grace),
            started,
            received: 0,
            rate: rate.max(1),
            grace,
            slow,
        }
    }
}

impl<B> HttpBody for MinRate<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                    // The next byte is due when the average would fall under the rate.
                    let due = Duration::from_secs_f64(*this.received as f64 / *this.rate as f64);
                    this.deadline
                        .as_mut()
                        .reset(*this.started + *this.grace + due);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(this.deadline.poll(cx));
                this.slow.0.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(TooSlow { rate: *this.rate }))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    /// A body of `chunks` chunks of `size` bytes, one every `every`.
    fn trickle(chunks: usize, size: usize, every: Duration) -> axum::body::Body {
        let stream = futures_util::stream::unfold(0, move |i| async move {
            if i == chunks {
                return None;
            }
            tokio::time::sleep(every).await;
            Some((
                Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; size])),
                i + 1,
            ))
        });
        axum::body::Body::from_stream(stream)
    }

    // Real time, with margins that a loaded machine only widens: a late chunk makes a slow
    // body slower, and the fast bodies finish far inside the grace.
    #[tokio::test]
    async fn a_body_slower_than_the_rate_after_the_grace_fails_and_raises_the_flag() {
        let slow = SlowBody::default();
        // 200 bytes a second against a minimum of 1,000, after 100 ms of grace.
        let body = MinRate::new(
            trickle(100, 10, Duration::from_millis(50)),
            1000,
            Duration::from_millis(100),
            slow.clone(),
        );
        let err = body.collect().await.unwrap_err();
        assert!(err.to_string().contains("SPV_BODY_MIN_RATE_BYTES"), "{err}");
        assert!(slow.is_raised());
    }

    #[tokio::test]
    async fn a_body_at_the_rate_or_within_the_grace_passes() {
        let slow = SlowBody::default();
        // 20,000 bytes a second against a minimum of 100.
        let body = MinRate::new(
            trickle(20, 200, Duration::from_millis(10)),
            100,
            Duration::from_secs(2),
            slow.clone(),
        );
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 4000);
        // A pause shorter than the grace, then everything at once.
        let body = MinRate::new(
            trickle(1, 500, Duration::from_millis(100)),
            100,
            Duration::from_secs(10),
            slow.clone(),
        );
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 500);
        assert!(!slow.is_raised());
    }
}
