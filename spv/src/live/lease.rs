//! Who owns a document's live state when several nodes serve it: a lease in Redis with
//! a fencing number.
//!
//! The key `live-owner:{document}` holds `"{epoch} {node} {url}"` and expires after the
//! lease's time to live unless its holder renews it. `epoch` comes from the counter
//! `live-epoch:{document}`, raised at each taking (and kept a day after the last), so a
//! later owner always has a larger number than any before it. The stored document is fenced as well: every append to its
//! change log is a compare-and-set on the document's version, so an owner that lost its
//! lease without knowing (a pause longer than the time to live) writes nothing once the
//! next owner has written, and learns it at its next append or renewal.

use std::time::Duration;

use fred::interfaces::LuaInterface;

use crate::store::{Redis, redis_err};
use crate::{Error, ErrorKind, Result};

/// Takes the lease when it is free or already this node's (a fresh epoch either way);
/// answers the value the key holds afterwards.
const ACQUIRE: &str = r"
local held = redis.call('get', KEYS[1])
if held then
  local node = string.match(held, '^%d+ (%S+) ')
  if node ~= ARGV[1] then return held end
end
local epoch = redis.call('incr', KEYS[2])
redis.call('pexpire', KEYS[2], 86400000)
local value = epoch .. ' ' .. ARGV[1] .. ' ' .. ARGV[2]
redis.call('set', KEYS[1], value, 'PX', ARGV[3])
return value
";

/// Extends the lease when it is still `ARGV[1]`.
const RENEW: &str = r"
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the lease when it is still `ARGV[1]`.
const RELEASE: &str = r"
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
";

/// The leases of one node.
#[derive(Clone, Debug)]
pub(crate) struct Leases {
    redis: Redis,
    /// This node's id (random per process).
    node: String,
    /// Where other nodes reach this one (`http://host:port`).
    url: String,
    ttl: Duration,
}

/// A lease this node holds.
#[derive(Clone, Debug)]
pub(crate) struct Lease {
    key: String,
    value: String,
    /// The fencing number: larger than every earlier owner's.
    pub(crate) epoch: u64,
}

/// Who holds a document's lease.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Holder {
    /// Nobody: the next node to open the document takes it.
    Nobody,
    /// This node.
    Me,
    /// Another node, reached at this URL.
    Node { node: String, url: String },
}

/// A stored lease: `(epoch, node, url)`.
fn parse(value: &str) -> Option<(u64, &str, &str)> {
    let mut parts = value.splitn(3, ' ');
    let epoch = parts.next()?.parse().ok()?;
    let node = parts.next()?;
    let url = parts.next()?;
    Some((epoch, node, url))
}

impl Leases {
    pub(crate) fn new(redis: Redis, node: String, url: String, ttl: Duration) -> Leases {
        Leases {
            redis,
            node,
            url,
            ttl,
        }
    }

    /// How long a lease lasts without renewal.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    fn key(&self, document: uuid::Uuid) -> String {
        self.redis.key(&format!("live-owner:{document}"))
    }

    fn millis(&self) -> String {
        self.ttl.as_millis().max(1).to_string()
    }

    /// Takes the lease of `document`; `Err(Holder::Node)` when another node has it.
    pub(crate) async fn acquire(
        &self,
        document: uuid::Uuid,
    ) -> Result<std::result::Result<Lease, Holder>> {
        let key = self.key(document);
        let epochs = self.redis.key(&format!("live-epoch:{document}"));
        let held: String = self
            .redis
            .client()
            .eval(
                ACQUIRE,
                vec![key.clone(), epochs],
                vec![self.node.clone(), self.url.clone(), self.millis()],
            )
            .await
            .map_err(redis_err)?;
        match parse(&held) {
            Some((epoch, node, _)) if node == self.node => Ok(Ok(Lease {
                key,
                epoch,
                value: held.clone(),
            })),
            Some((_, node, url)) => Ok(Err(Holder::Node {
                node: node.to_string(),
                url: url.to_string(),
            })),
            None => Err(Error::new(
                ErrorKind::Io,
                format!("Redis: the lease of document {document} reads {held:?}"),
            )),
        }
    }

    /// Extends `lease`; `false` when it is no longer this node's.
    pub(crate) async fn renew(&self, lease: &Lease) -> Result<bool> {
        let renewed: i64 = self
            .redis
            .client()
            .eval(
                RENEW,
                vec![lease.key.clone()],
                vec![lease.value.clone(), self.millis()],
            )
            .await
            .map_err(redis_err)?;
        Ok(renewed == 1)
    }

    /// Gives `lease` up (when it is still this node's), so the next node need not wait
    /// for it to expire.
    pub(crate) async fn release(&self, lease: &Lease) {
        let released: std::result::Result<i64, _> = self
            .redis
            .client()
            .eval(RELEASE, vec![lease.key.clone()], vec![lease.value.clone()])
            .await;
        if let Err(error) = released {
            tracing::debug!(error = %redis_err(error), "live lease release failed: it expires by itself");
        }
    }

    /// Who holds the lease of `document` now.
    pub(crate) async fn holder(&self, document: uuid::Uuid) -> Result<Holder> {
        use fred::interfaces::KeysInterface;
        let held: Option<String> = self
            .redis
            .client()
            .get(self.key(document))
            .await
            .map_err(redis_err)?;
        Ok(match held.as_deref().and_then(parse) {
            None => Holder::Nobody,
            Some((_, node, _)) if node == self.node => Holder::Me,
            Some((_, node, url)) => Holder::Node {
                node: node.to_string(),
                url: url.to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedisOptions;

    #[test]
    fn parses_a_stored_lease() {
        assert_eq!(
            parse("12 nodeA http://10.0.0.1:3000"),
            Some((12, "nodeA", "http://10.0.0.1:3000"))
        );
        assert_eq!(parse("x nodeA http://h"), None);
        assert_eq!(parse("12 nodeA"), None);
    }

    #[tokio::test]
    async fn one_node_holds_a_lease_and_epochs_grow() {
        let Some(url) = crate::store::testing::redis_url("live::lease::one_node_holds") else {
            return;
        };
        let options = RedisOptions {
            prefix: crate::store::testing::redis_prefix(),
            ..RedisOptions::default()
        };
        let redis = Redis::connect(&url, options).await.unwrap();
        let ttl = Duration::from_millis(300);
        let a = Leases::new(redis.clone(), "a".into(), "http://a:1".into(), ttl);
        let b = Leases::new(redis.clone(), "b".into(), "http://b:2".into(), ttl);
        let doc = uuid::Uuid::now_v7();

        assert_eq!(a.holder(doc).await.unwrap(), Holder::Nobody);
        let first = a.acquire(doc).await.unwrap().unwrap();
        assert_eq!(a.holder(doc).await.unwrap(), Holder::Me);
        let refused = b.acquire(doc).await.unwrap().unwrap_err();
        assert_eq!(
            refused,
            Holder::Node {
                node: "a".into(),
                url: "http://a:1".into()
            }
        );
        assert!(a.renew(&first).await.unwrap());
        // B takes it once A's lapses; A's renewal then fails and its release is a no-op.
        let mut taken = None;
        for _ in 0..40 {
            if let Ok(lease) = b.acquire(doc).await.unwrap() {
                taken = Some(lease);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let second = taken.expect("B takes the lease after it lapses");
        assert!(second.epoch > first.epoch, "{second:?} after {first:?}");
        assert!(!a.renew(&first).await.unwrap());
        a.release(&first).await;
        assert_eq!(
            a.holder(doc).await.unwrap(),
            Holder::Node {
                node: "b".into(),
                url: "http://b:2".into()
            }
        );
        b.release(&second).await;
        assert_eq!(a.holder(doc).await.unwrap(), Holder::Nobody);
        redis.quit().await;
    }
}
