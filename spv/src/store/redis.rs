//! [`Redis`]: the connection to Redis of a scaled-out deployment (`REDIS_URL`).
//!
//! One value per process, cheap to clone, made by whoever wires the services
//! (`AppState::open`). It holds two fred clients: one for commands (rate limits, the
//! thumbnail tier, claims) and one for pub/sub alone, as Redis requires (a subscribed
//! connection runs no other commands).
//!
//! Redis is never a reason for a request to fail or to wait long:
//!
//! - every command has a time limit ([`RedisOptions::command_timeout`]);
//! - a Redis that is down at start does not stop the process: the clients keep
//!   reconnecting in the background (exponential backoff, capped at two seconds), and
//!   [`Redis::is_connected`] tells callers to use their in-process fallback meanwhile;
//! - [`Redis::reconnects`] tells callers that the connection came back, so that local
//!   state that may have missed messages (memory caches) can be flushed first.
//!
//! Every key and channel is prefixed with [`RedisOptions::prefix`] (`SPV_REDIS_PREFIX`,
//! default `spv:`), so several deployments or test runs can share one Redis.

use std::sync::Arc;
use std::time::Duration;

use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface};
use fred::types::config::{Config as FredConfig, ReconnectPolicy};
use fred::types::{Builder, ClientState};
use tokio::sync::broadcast;

use crate::{Error, ErrorKind, Result};

/// Settings of a [`Redis`] connection.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// The prefix of every key and channel (`SPV_REDIS_PREFIX`); default `spv:`.
    pub prefix: String,
    /// How long one command may take before it fails (default 250 ms): a slow Redis
    /// makes callers fall back, it never holds a request.
    pub command_timeout: Duration,
    /// How long [`Redis::connect`] waits for the first connection (default 2 s) before
    /// it returns and lets the clients keep trying in the background.
    pub connect_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "spv:".to_string(),
            command_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// The Redis connection of a process: a command client and a pub/sub client.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    subscriber: SubscriberClient,
    prefix: String,
    url_host: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL itself: it may carry a password.
        f.debug_struct("Redis")
            .field("host", &self.inner.url_host)
            .field("prefix", &self.inner.prefix)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Redis {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`, or `rediss://` for
    /// TLS). A URL that cannot be read is an error naming `REDIS_URL`; a server that does
    /// not answer within [`RedisOptions::connect_timeout`] is not: the clients keep
    /// reconnecting and [`is_connected`](Self::is_connected) stays `false` until they
    /// succeed (`/ready` reports it).
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Redis> {
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(Error::invalid_request(
                "REDIS_URL: expected redis://host[:port][/db] or rediss:// for TLS",
            ));
        }
        let mut config = FredConfig::from_url(url).map_err(|e| {
            Error::invalid_request(format!(
                "REDIS_URL: cannot read it as a Redis URL ({})",
                e.details()
            ))
        })?;
        // Keep reconnecting from the first attempt on: a Redis that is down at start is
        // the same as one that goes down later.
        config.fail_fast = false;
        let url_host = host_of(url);
        let mut builder = Builder::from_config(config);
        builder
            .with_connection_config(|c| {
                c.connection_timeout = options.connect_timeout;
                c.internal_command_timeout = options.connect_timeout;
                // A command in flight when the connection drops is not sent again: the
                // caller has fallen back by then.
                c.max_command_attempts = 1;
                c.tcp.nodelay = Some(true);
            })
            .with_performance_config(|p| {
                p.default_command_timeout = options.command_timeout;
                p.broadcast_channel_capacity = 1024;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2));
        let client = builder.build().map_err(redis_err)?;
        let subscriber = builder.build_subscriber_client().map_err(redis_err)?;
        // Subscriptions are made again after every reconnection.
        let _resubscribe = subscriber.manage_subscriptions();
        client.connect();
        subscriber.connect();
        let wait = async {
            let _ = client.wait_for_connect().await;
            let _ = subscriber.wait_for_connect().await;
        };
        if tokio::time::timeout(options.connect_timeout, wait)
            .await
            .is_err()
        {
            tracing::warn!(
                host = %url_host,
                "Redis does not answer yet; serving with in-process fallbacks while reconnecting"
            );
        }
        let redis = Redis {
            inner: Arc::new(Inner {
                client,
                subscriber,
                prefix: options.prefix,
                url_host,
            }),
        };
        let mut errors = redis.inner.client.error_rx();
        let host = redis.inner.url_host.clone();
        tokio::spawn(async move {
            while let Ok((error, _)) = errors.recv().await {
                tracing::warn!(host = %host, error = %error.details(), "Redis connection error");
            }
        });
        Ok(redis)
    }

    /// Whether the command client is connected now. Callers check this before a command
    /// whose failure they would fall back from, so that a Redis that is down costs
    /// nothing per request.
    pub fn is_connected(&self) -> bool {
        self.inner.client.state() == ClientState::Connected
    }

    /// Sends `PING` (what `/ready` checks).
    pub async fn ping(&self) -> Result<()> {
        let _: String = self.inner.client.ping(None).await.map_err(redis_err)?;
        Ok(())
    }

    /// The key or channel `name` under this deployment's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.inner.prefix)
    }

    /// The command client.
    #[allow(dead_code)] // used by the scale-out domains as they land
    pub(crate) fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The pub/sub client: subscribe with it, read its `message_rx()`.
    #[allow(dead_code)] // used by the scale-out domains as they land
    pub(crate) fn subscriber(&self) -> &SubscriberClient {
        &self.inner.subscriber
    }

    /// A receiver that gets a message each time either client connects again after a
    /// loss. Whoever keeps local state kept true by pub/sub flushes it on each.
    pub fn reconnects(&self) -> broadcast::Receiver<()> {
        let (tx, rx) = broadcast::channel(16);
        for mut events in [
            self.inner.client.reconnect_rx(),
            self.inner.subscriber.reconnect_rx(),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                while events.recv().await.is_ok() {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
            });
        }
        rx
    }

    /// Closes both clients.
    pub async fn quit(&self) {
        let _ = self.inner.client.quit().await;
        let _ = self.inner.subscriber.quit().await;
    }
}

/// `host[:port]` of a Redis URL, for logs (never the password).
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    rest.split('/').next().unwrap_or_default().to_string()
}

/// A fred error as ours (`Io`: talking to Redis failed; callers fall back).
pub(crate) fn redis_err(error: fred::error::Error) -> Error {
    Error::new(ErrorKind::Io, format!("Redis: {}", error.details()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_hides_credentials() {
        assert_eq!(host_of("redis://user:secret@cache:6380/2"), "cache:6380");
        assert_eq!(host_of("redis://127.0.0.1:6379"), "127.0.0.1:6379");
    }

    #[tokio::test]
    async fn a_bad_url_names_the_variable() {
        let err = Redis::connect("http://nope", RedisOptions::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("REDIS_URL"), "{err}");
    }

    #[tokio::test]
    async fn an_absent_server_is_not_fatal_and_reports_not_connected() {
        let options = RedisOptions {
            connect_timeout: Duration::from_millis(200),
            ..RedisOptions::default()
        };
        // Port 1 on loopback: nothing listens there.
        let redis = Redis::connect("redis://127.0.0.1:1", options)
            .await
            .unwrap();
        assert!(!redis.is_connected());
        assert!(redis.ping().await.is_err());
        redis.quit().await;
    }

    #[tokio::test]
    async fn pings_a_real_redis() {
        let Some(url) = crate::store::testing::redis_url("store::redis::pings_a_real_redis") else {
            return;
        };
        let redis = Redis::connect(&url, RedisOptions::default()).await.unwrap();
        assert!(redis.is_connected());
        redis.ping().await.unwrap();
        assert_eq!(redis.key("x"), "spv:x");
        redis.quit().await;
    }
}
