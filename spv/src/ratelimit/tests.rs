//! The limiter as a whole: groups off, refusals counted, and on Redis: one limit across
//! two "nodes", the fallback while Redis is away and the way back.

use std::time::Duration;

use super::*;
use crate::store::RedisOptions;

fn ip(s: &str) -> Subject {
    Subject::ip(s.parse().unwrap())
}

#[tokio::test]
async fn groups_off_never_refuse_and_refusals_are_counted() {
    let limiter = RateLimiter::new("auth=off,anonymous=3/1m,render=1/1h".parse().unwrap());
    assert!(!limiter.is_on(Group::Auth));
    for _ in 0..100 {
        limiter.check(Group::Auth, &ip("192.0.2.1")).await.unwrap();
    }
    for _ in 0..3 {
        limiter
            .check(Group::Anonymous, &ip("192.0.2.1"))
            .await
            .unwrap();
    }
    let refusal = limiter
        .check(Group::Anonymous, &ip("192.0.2.1"))
        .await
        .unwrap_err();
    assert_eq!(refusal.group, Group::Anonymous);
    assert_eq!(refusal.retry_after_secs(), 20);
    limiter
        .check(Group::Render, &Subject::user(uuid::Uuid::from_u128(1)))
        .await
        .unwrap();
    let refusal = limiter
        .check(Group::Render, &Subject::user(uuid::Uuid::from_u128(1)))
        .await
        .unwrap_err();
    assert_eq!(refusal.retry_after_secs(), 3600);
    let error = refusal.clone().into_error();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(Refusal::of(&error), Some(&refusal));
    assert!(
        error
            .to_string()
            .contains("render rate limit allows 1 requests per 3600 s (1/1h)"),
        "{error}"
    );
    assert_eq!(limiter.stats().limited(Group::Anonymous), 1);
    assert_eq!(limiter.stats().limited(Group::Render), 1);
    assert_eq!(limiter.stats().limited(Group::Auth), 0);
}

#[test]
fn subjects_key_networks_and_names_sensibly() {
    assert_eq!(
        ip("2001:db8:1:2:aaaa::1"),
        ip("2001:db8:1:2:bbbb::9"),
        "one /64"
    );
    assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
    assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
    assert_eq!(Subject::name("Alice "), Subject::name("alice"));
    assert_ne!(Subject::name("alice"), Subject::name("bob"));
    assert_eq!(ip("192.0.2.1").to_string(), "ip:192.0.2.1");
    assert!(
        !Subject::name("alice").to_string().contains("alice"),
        "names are hashed"
    );
}

#[test]
fn refusal_headers_round_up_to_whole_seconds() {
    let limit = Limit::new(10, 60).unwrap();
    let refusal = |ms| Refusal {
        group: Group::Auth,
        limit,
        retry_after: Duration::from_millis(ms),
    };
    assert_eq!(refusal(0).retry_after_secs(), 1, "at least 1");
    assert_eq!(refusal(1).retry_after_secs(), 1);
    assert_eq!(refusal(41_001).retry_after_secs(), 42);
    assert_eq!(refusal(41_001).header(), "\"auth\";r=0;t=42");
    assert_eq!(refusal(5).policy_header(), "\"auth\";q=10;w=60");
}

async fn connect(url: &str, prefix: &str) -> Redis {
    Redis::connect(
        url,
        RedisOptions {
            prefix: prefix.to_string(),
            connect_timeout: Duration::from_millis(500),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn two_nodes_on_one_redis_share_one_limit() {
    let Some(url) =
        crate::store::testing::redis_url("ratelimit::two_nodes_on_one_redis_share_one_limit")
    else {
        return;
    };
    let prefix = crate::store::testing::redis_prefix();
    let limits: RateLimits = "auth=6/1m".parse().unwrap();
    let a = RateLimiter::new(limits).with_redis(connect(&url, &prefix).await);
    let b = RateLimiter::new(limits).with_redis(connect(&url, &prefix).await);
    let client = ip("198.51.100.20");
    let mut passed = 0;
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        if node.check(Group::Auth, &client).await.is_ok() {
            passed += 1;
        }
    }
    assert_eq!(passed, 6, "N over two nodes, not 2N");
    let refusal = a.check(Group::Auth, &client).await.unwrap_err();
    assert!(
        (9..=10).contains(&refusal.retry_after_secs()),
        "{refusal:?}"
    );
    // Another client has its own budget; the script is loaded once (EVALSHA).
    assert!(b.check(Group::Auth, &ip("198.51.100.21")).await.is_ok());
    assert_eq!(a.stats().fallbacks() + b.stats().fallbacks(), 0);
    // A script cache flushed (as by a restart): NOSCRIPT, then EVAL.
    let _: () = fred::interfaces::LuaInterface::script_flush(
        a.inner.redis.as_ref().unwrap().redis.client(),
        false,
    )
    .await
    .unwrap();
    assert!(a.check(Group::Auth, &client).await.is_err());
    assert!(a.check(Group::Auth, &ip("198.51.100.22")).await.is_ok());
    assert_eq!(a.stats().fallbacks(), 0, "NOSCRIPT is not a fallback");
}

#[test]
fn lease_sizes_follow_the_limit() {
    let size = |s: &str| redis::lease_size(s.parse().unwrap());
    // Small limits are exact: one round trip per request.
    assert_eq!(size("10/1m"), 1);
    assert_eq!(
        size("120/1m"),
        1,
        "2 a second: a lease would outlive its share"
    );
    assert_eq!(size("64/1s"), 1);
    // A 64th of the burst, a second of the rate, 32 at most.
    assert_eq!(size("200/1s"), 3);
    assert_eq!(size("640/1m"), 10);
    assert_eq!(size("6000/1m"), 32);
    assert_eq!(size("100000/1s"), 32);
}

#[tokio::test]
async fn large_limits_are_leased_and_never_exceeded_across_nodes() {
    let Some(url) = crate::store::testing::redis_url(
        "ratelimit::large_limits_are_leased_and_never_exceeded_across_nodes",
    ) else {
        return;
    };
    let prefix = crate::store::testing::redis_prefix();
    // A lease of 10 requests' worth per round trip.
    let limits: RateLimits = "api=640/1m".parse().unwrap();
    let a = RateLimiter::new(limits).with_redis(connect(&url, &prefix).await);
    let b = RateLimiter::new(limits).with_redis(connect(&url, &prefix).await);
    let redis = a.inner.redis.as_ref().unwrap();
    let client = ip("198.51.100.30");
    let key = redis.redis.key(&format!("rl:api:{client}"));
    let tat = || async {
        fred::interfaces::KeysInterface::get::<Option<String>, _>(redis.redis.client(), &key)
            .await
            .unwrap()
    };

    // The first check takes a lease; the next three are spent here without Redis (the
    // stored time does not move); the one that leaves half of it takes the next lease in
    // the background.
    a.check(Group::Api, &client).await.unwrap();
    let first = tat().await.expect("the lease is counted on Redis");
    for _ in 0..3 {
        a.check(Group::Api, &client).await.unwrap();
    }
    assert_eq!(tat().await.as_ref(), Some(&first), "spent from the lease");
    a.check(Group::Api, &client).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while tat().await.as_ref() == Some(&first) {
        assert!(std::time::Instant::now() < deadline, "no lease taken ahead");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // 20 taken, 5 spent: the next 9 are spent without a round trip (6 left, so no lease
    // is taken ahead yet).
    let ahead = tat().await;
    for _ in 0..9 {
        a.check(Group::Api, &client).await.unwrap();
    }
    assert_eq!(tat().await, ahead, "spent from the lease taken ahead");

    // Two nodes in turn: never more than the limit (and what it regains meanwhile),
    // and no fewer than the limit less what the two nodes may hold unspent.
    let started = std::time::Instant::now();
    let mut passed = 14;
    for i in 0..2_000 {
        let node = if i % 2 == 0 { &a } else { &b };
        if node.check(Group::Api, &client).await.is_ok() {
            passed += 1;
        }
    }
    let regained = (started.elapsed().as_secs_f64() * 640.0 / 60.0).ceil() as u32 + 1;
    assert!(
        passed <= 640 + regained,
        "{passed} passed, more than 640 + {regained}"
    );
    assert!(
        passed >= 640 - 2 * 9,
        "{passed} passed: leases held too much back"
    );

    // A refusal is remembered until its wait is over: with the count gone from Redis,
    // `a` still refuses (no round trip).
    let refusal = a.check(Group::Api, &client).await.unwrap_err();
    assert!(
        refusal.retry_after <= Duration::from_millis(200),
        "{refusal:?}"
    );
    let _: i64 = fred::interfaces::KeysInterface::del(redis.redis.client(), &key)
        .await
        .unwrap();
    assert!(a.check(Group::Api, &client).await.is_err());
    // Once the wait is over, Redis is asked again (and has a full budget now).
    tokio::time::sleep(refusal.retry_after + Duration::from_millis(20)).await;
    a.check(Group::Api, &client).await.unwrap();
    assert_eq!(a.stats().fallbacks() + b.stats().fallbacks(), 0);
    // Spent and expired leases are dropped at the cleaning.
    tokio::time::sleep(redis::LEASE_TTL).await;
    assert_eq!(a.retain_recent(), 0);
}

/// A redis-server of the test's own, on a port it chose, that it can stop and start.
struct OwnRedis {
    port: u16,
    child: std::process::Child,
}

impl OwnRedis {
    fn start(port: u16) -> Option<OwnRedis> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        Some(OwnRedis { port, child })
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn falls_back_while_redis_is_away_and_returns_by_itself() {
    // Needs a redis-server binary; the shared Redis of the tests is the sign there is one.
    if crate::store::testing::redis_url("ratelimit::falls_back_while_redis_is_away").is_none() {
        return;
    }
    let port = free_port();
    let Some(mut server) = OwnRedis::start(port) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("redis-server must be installed when CI=true");
        }
        eprintln!("skipped ratelimit::falls_back_while_redis_is_away: no redis-server");
        return;
    };
    server.wait_ready().await;
    let url = format!("redis://127.0.0.1:{port}");
    let limiter = RateLimiter::new("api=3/1m".parse().unwrap())
        .with_redis(connect(&url, &crate::store::testing::redis_prefix()).await);
    let user = Subject::user(uuid::Uuid::from_u128(7));
    for _ in 0..3 {
        limiter.check(Group::Api, &user).await.unwrap();
    }
    assert!(limiter.check(Group::Api, &user).await.is_err());
    assert_eq!(limiter.stats().fallbacks(), 0);

    server.stop();
    // Until the client notices, a command fails; after, it is not connected: both fall
    // back, and the in-process limit still holds.
    let mut passed = 0;
    for _ in 0..10 {
        if limiter.check(Group::Api, &user).await.is_ok() {
            passed += 1;
        }
    }
    assert_eq!(
        passed, 3,
        "the in-process limiter enforces the limit meanwhile"
    );
    assert!(
        limiter.stats().fallbacks() >= 10,
        "{}",
        limiter.stats().fallbacks()
    );

    let server = OwnRedis::start(port).unwrap();
    server.wait_ready().await;
    let redis = limiter.inner.redis.as_ref().unwrap().redis.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !redis.is_connected() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconnection within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The new server knows nothing of the script nor of the key: Redis decides again
    // (3 more pass, counted there), and no check falls back any more.
    let before = limiter.stats().fallbacks();
    let mut passed = 0;
    for _ in 0..5 {
        if limiter.check(Group::Api, &user).await.is_ok() {
            passed += 1;
        }
    }
    assert_eq!(passed, 3, "a fresh Redis budget");
    assert_eq!(limiter.stats().fallbacks(), before, "back on Redis");
    drop(server);
}
