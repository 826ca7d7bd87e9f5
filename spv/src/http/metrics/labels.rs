//! The label sets and histograms of [`Metrics`](super::Metrics), and the request labels
//! made without allocating.

use axum::extract::MatchedPath;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    pub(super) method: &'static str,
    pub(super) route: &'static str,
    pub(super) status: u16,
}

/// The label of `method`: its name for the methods of RFC 9110 and PATCH, else `OTHER`
/// (so that arbitrary methods cannot grow the label set).
pub(super) fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// The label of a matched route: route templates are a fixed set (the application's
/// routes), so each is interned once and labels are made without allocating. Each
/// thread remembers the labels it has seen, so the shared set (and its lock, which two
/// cores would pass back and forth) is read once per route and thread.
pub(super) fn route_label(route: Option<&MatchedPath>) -> &'static str {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::sync::{PoisonError, RwLock};
    type Labels = HashSet<&'static str, foldhash::fast::RandomState>;
    static ROUTES: RwLock<Option<HashSet<&'static str>>> = RwLock::new(None);
    thread_local! {
        static SEEN: RefCell<Labels> = RefCell::new(Labels::default());
    }
    let Some(route) = route.map(MatchedPath::as_str) else {
        return "unmatched";
    };
    if let Some(known) = SEEN.with_borrow(|seen| seen.get(route).copied()) {
        return known;
    }
    let interned = {
        let mut routes = ROUTES.write().unwrap_or_else(PoisonError::into_inner);
        let set = routes.get_or_insert_with(HashSet::new);
        match set.get(route) {
            Some(known) => *known,
            None => {
                let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
                set.insert(leaked);
                leaked
            }
        }
    };
    SEEN.with_borrow_mut(|seen| seen.insert(interned));
    interned
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BackendLabels {
    pub(super) backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CacheLabels {
    pub(super) level: &'static str,
    pub(super) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ResultLabels {
    pub(super) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct JobLabels {
    pub(super) kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct JobResultLabels {
    pub(super) kind: String,
    pub(super) result: &'static str,
}

pub(super) fn job_histogram() -> Histogram {
    // 1 ms to about 9 minutes.
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

pub(super) fn latency_histogram() -> Histogram {
    // 0.1 ms to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BlobLabels {
    pub(super) op: &'static str,
    pub(super) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BlobOpLabels {
    pub(super) op: &'static str,
}
