//! Tokens, sessions, rate limits, pub/sub and temporary values. Every case
//! runs against the embedded state (a temporary SQLite store with the
//! `memory` cache) and against the Redis server that `tests/services.sh up`
//! starts, each test under its own key prefix.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use polystat::state::{Subscription, TokenPair};
use polystat::{Error, Result, Store, StoreConfig};
use serde_json::{json, Map, Value};
use tempfile::TempDir;
use uuid::Uuid;

/// How long a test waits for a published message before failing.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Short TTL for expiry tests, with sleeps of twice as long.
const SHORT_TTL: Duration = Duration::from_millis(300);

const MINUTE: Duration = Duration::from_secs(60);

/// Where one test keeps its state: a temporary SQLite file, plus a unique key
/// prefix on the test Redis server for the Redis cases.
struct Fixture {
    dir: TempDir,
    redis_url: Option<String>,
}

impl Fixture {
    fn embedded() -> Fixture {
        Fixture {
            dir: TempDir::new().expect("create temp dir"),
            redis_url: None,
        }
    }

    fn redis() -> Fixture {
        let url = std::env::var("POLYSTAT_TEST_REDIS_URL").unwrap_or_else(|_| {
            panic!(
                "POLYSTAT_TEST_REDIS_URL is not set: run `eval \"$(tests/services.sh up)\"` before the state tests"
            )
        });
        Fixture {
            dir: TempDir::new().expect("create temp dir"),
            redis_url: Some(url),
        }
    }

    /// Returns a cache URL on the test Redis server with a fresh prefix, or
    /// `memory` for the embedded fixture.
    fn fresh_cache_url(&self) -> String {
        match &self.redis_url {
            Some(url) => format!(
                "{}/?prefix=t_{}:",
                url.trim_end_matches('/'),
                Uuid::new_v4().simple()
            ),
            None => "memory".to_string(),
        }
    }

    /// Returns the configuration that every `open` of this fixture shares.
    fn config(&self, file: &str, cache_url: String) -> StoreConfig {
        StoreConfig {
            cache_url,
            ..StoreConfig::embedded(self.dir.path().join(file))
        }
    }

    /// Opens a store on this fixture's SQLite file and Redis prefix. Stores
    /// opened one after another see the same tokens and sessions.
    fn opener(&self) -> Opener {
        Opener {
            config: self.config("state.db", self.fresh_cache_url()),
        }
    }

    /// Opens a store that shares no state with the stores of `opener`: its
    /// own SQLite file and its own Redis prefix.
    async fn isolated(&self) -> Store {
        let config = self.config("isolated.db", self.fresh_cache_url());
        Store::open(config).await.expect("open isolated store")
    }
}

/// Opens stores on one SQLite file and one Redis prefix.
struct Opener {
    config: StoreConfig,
}

impl Opener {
    async fn open(&self) -> Store {
        Store::open(self.config.clone()).await.expect("open store")
    }
}

/// Defines one `#[tokio::test]` per case for a fixture. Cases in `stores`
/// take a `Store`, and cases in `fixtures` take the `Fixture` itself.
macro_rules! cases {
    ($fixture:expr; stores: [$($store_case:ident),* $(,)?]; fixtures: [$($fixture_case:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $store_case() {
                let fixture = $fixture;
                let store = fixture.opener().open().await;
                super::$store_case(store).await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $fixture_case() {
                super::$fixture_case($fixture).await;
            }
        )*
    };
}

/// Instantiates every case for the embedded state and for Redis.
macro_rules! on_both_backends {
    ($($cases:tt)*) => {
        mod embedded {
            use super::Fixture;
            cases!(Fixture::embedded(); $($cases)*);
        }
        mod redis {
            use super::Fixture;
            cases!(Fixture::redis(); $($cases)*);
        }
    };
}

on_both_backends!(
    stores: [
        tokens_issue_and_verify,
        access_token_expires,
        refresh_token_expires,
        refresh_rotates_pair,
        refresh_reuse_revokes_family,
        concurrent_refresh_has_one_winner,
        revoke_token_and_family,
        token_input_is_validated,
        session_crud,
        session_expiry_and_touch,
        rate_limit_exact_under_concurrency,
        rate_limit_retry_after,
        rate_limit_input_is_validated,
        pubsub_delivers_messages,
        temp_values_expire,
    ];
    fixtures: [
        pubsub_isolated_between_stores,
        restart_keeps_tokens_and_sessions,
    ]
);

fn assert_unauthorized<T: Debug>(result: Result<T>) {
    match result {
        Err(Error::Unauthorized { .. }) => {}
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

fn assert_validation<T: Debug>(result: Result<T>, field: &str) {
    match result {
        Err(Error::Validation { field: actual, .. }) => assert_eq!(actual, field),
        other => panic!("expected a validation error on {field}, got {other:?}"),
    }
}

async fn issue(store: &Store, access_ttl: Duration, refresh_ttl: Duration) -> TokenPair {
    store
        .state()
        .issue_tokens(
            "user-1",
            json!({"scopes": ["read", "write"]}),
            access_ttl,
            refresh_ttl,
        )
        .await
        .expect("issue tokens")
}

async fn receive(subscription: &mut Subscription) -> Value {
    tokio::time::timeout(RECEIVE_TIMEOUT, subscription.next())
        .await
        .expect("no message within the receive timeout")
        .expect("subscription ended")
}

fn session_data(step: u32) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("user".into(), json!("user-1"));
    data.insert("step".into(), json!(step));
    data
}

// ------------------------------------------------------------------ tokens

async fn tokens_issue_and_verify(store: Store) {
    let state = store.state();
    let pair = issue(&store, MINUTE, MINUTE).await;
    assert_eq!(pair.access_token.len(), 43);
    assert_eq!(pair.refresh_token.len(), 43);
    assert_ne!(pair.access_token, pair.refresh_token);
    assert!(!format!("{pair:?}").contains(&pair.access_token));

    let claims = state.verify_access(&pair.access_token).await.unwrap();
    assert_eq!(claims.subject, "user-1");
    assert_eq!(claims.claims, json!({"scopes": ["read", "write"]}));
    assert_eq!(claims.family_id, pair.family_id);
    assert_eq!(claims.expires_at, pair.access_expires_at);

    assert_unauthorized(state.verify_access(&pair.refresh_token).await);
    assert_unauthorized(state.verify_access("not-a-token").await);
    assert_unauthorized(state.verify_access("").await);
}

async fn access_token_expires(store: Store) {
    let state = store.state();
    let pair = issue(&store, SHORT_TTL, MINUTE).await;
    state.verify_access(&pair.access_token).await.unwrap();

    tokio::time::sleep(SHORT_TTL * 2).await;
    assert_unauthorized(state.verify_access(&pair.access_token).await);

    let next = state.refresh(&pair.refresh_token).await.unwrap();
    state.verify_access(&next.access_token).await.unwrap();
}

async fn refresh_token_expires(store: Store) {
    let state = store.state();
    let pair = issue(&store, SHORT_TTL, SHORT_TTL).await;
    tokio::time::sleep(SHORT_TTL * 2).await;
    assert_unauthorized(state.refresh(&pair.refresh_token).await);
}

async fn refresh_rotates_pair(store: Store) {
    let state = store.state();
    let first = issue(&store, MINUTE, MINUTE).await;
    let second = state.refresh(&first.refresh_token).await.unwrap();
    assert_eq!(second.family_id, first.family_id);
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(second.refresh_expires_at >= first.refresh_expires_at);

    let claims = state.verify_access(&second.access_token).await.unwrap();
    assert_eq!(claims.subject, "user-1");
    assert_eq!(claims.claims, json!({"scopes": ["read", "write"]}));
    // Earlier access tokens stay valid until they expire.
    state.verify_access(&first.access_token).await.unwrap();

    let third = state.refresh(&second.refresh_token).await.unwrap();
    assert_eq!(third.family_id, first.family_id);
    state.verify_access(&third.access_token).await.unwrap();
}

async fn refresh_reuse_revokes_family(store: Store) {
    let state = store.state();
    let first = issue(&store, MINUTE, MINUTE).await;
    let second = state.refresh(&first.refresh_token).await.unwrap();

    match state.refresh(&first.refresh_token).await {
        Err(Error::Unauthorized { reason }) => assert!(reason.contains("already used"), "{reason}"),
        other => panic!("expected Unauthorized for a reused token, got {other:?}"),
    }
    assert_unauthorized(state.verify_access(&first.access_token).await);
    assert_unauthorized(state.verify_access(&second.access_token).await);
    assert_unauthorized(state.refresh(&second.refresh_token).await);
    assert!(!state.revoke_family(first.family_id).await.unwrap());
}

async fn concurrent_refresh_has_one_winner(store: Store) {
    let pair = issue(&store, MINUTE, MINUTE).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let state = store.state();
            let token = pair.refresh_token.clone();
            tokio::spawn(async move { state.refresh(&token).await })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("refresh task panicked") {
            Ok(next) => winners.push(next),
            Err(Error::Unauthorized { .. }) => {}
            Err(other) => panic!("unexpected refresh error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh must succeed");
    // Every losing refresh presented a used token, which revokes the family.
    assert_unauthorized(store.state().verify_access(&winners[0].access_token).await);
}

async fn revoke_token_and_family(store: Store) {
    let state = store.state();
    let kept = issue(&store, MINUTE, MINUTE).await;
    let revoked = issue(&store, MINUTE, MINUTE).await;

    assert!(state.revoke_token(&kept.access_token).await.unwrap());
    assert!(!state.revoke_token(&kept.access_token).await.unwrap());
    assert_unauthorized(state.verify_access(&kept.access_token).await);
    let next = state.refresh(&kept.refresh_token).await.unwrap();
    assert!(state.revoke_token(&next.refresh_token).await.unwrap());
    assert_unauthorized(state.refresh(&next.refresh_token).await);
    state.verify_access(&next.access_token).await.unwrap();

    assert!(state.revoke_family(revoked.family_id).await.unwrap());
    assert_unauthorized(state.verify_access(&revoked.access_token).await);
    assert_unauthorized(state.refresh(&revoked.refresh_token).await);
    assert!(!state.revoke_family(revoked.family_id).await.unwrap());
    assert!(!state.revoke_family(Uuid::new_v4()).await.unwrap());
    assert!(!state.revoke_token("unknown").await.unwrap());
}

async fn token_input_is_validated(store: Store) {
    let state = store.state();
    let empty_subject = state.issue_tokens("", json!({}), MINUTE, MINUTE).await;
    assert_validation(empty_subject, "subject");
    let zero_access = state
        .issue_tokens("user-1", json!({}), Duration::ZERO, MINUTE)
        .await;
    assert_validation(zero_access, "access_ttl");
    let sub_millisecond = state
        .issue_tokens("user-1", json!({}), MINUTE, Duration::from_micros(10))
        .await;
    assert_validation(sub_millisecond, "refresh_ttl");
}

// ---------------------------------------------------------------- sessions

async fn session_crud(store: Store) {
    let state = store.state();
    let created = state.create_session(session_data(1), MINUTE).await.unwrap();
    assert_eq!(created.id.len(), 43);
    assert_eq!(created.data, session_data(1));

    let read = state.get_session(&created.id).await.unwrap();
    assert_eq!(read.as_ref(), Some(&created));

    let updated = state.update_session(&created.id, session_data(2)).await;
    let updated = updated.unwrap().expect("session to update");
    assert_eq!(updated.data, session_data(2));
    assert_eq!(updated.expires_at, created.expires_at);
    let read = state.get_session(&created.id).await.unwrap();
    assert_eq!(read.map(|s| s.data), Some(session_data(2)));

    assert!(state.delete_session(&created.id).await.unwrap());
    assert_eq!(state.get_session(&created.id).await.unwrap(), None);
    assert!(!state.delete_session(&created.id).await.unwrap());
    let missing = state.update_session(&created.id, session_data(3)).await;
    assert_eq!(missing.unwrap(), None);
    assert_eq!(state.touch_session("unknown", MINUTE).await.unwrap(), None);
}

async fn session_expiry_and_touch(store: Store) {
    let state = store.state();
    let touched = state
        .create_session(session_data(1), SHORT_TTL)
        .await
        .unwrap();
    let expiring = state
        .create_session(session_data(2), SHORT_TTL)
        .await
        .unwrap();

    let extended = state.touch_session(&touched.id, MINUTE).await.unwrap();
    let extended = extended.expect("session to touch");
    assert!(extended.expires_at > touched.expires_at);
    assert_eq!(extended.data, session_data(1));

    tokio::time::sleep(SHORT_TTL * 2).await;
    let read = state.get_session(&touched.id).await.unwrap();
    assert_eq!(read.map(|s| s.expires_at), Some(extended.expires_at));
    assert_eq!(state.get_session(&expiring.id).await.unwrap(), None);
    let late_update = state.update_session(&expiring.id, session_data(3)).await;
    assert_eq!(late_update.unwrap(), None);
    assert_eq!(
        state.touch_session(&expiring.id, MINUTE).await.unwrap(),
        None
    );
    assert!(!state.delete_session(&expiring.id).await.unwrap());
}

// ------------------------------------------------------------ rate limits

async fn rate_limit_exact_under_concurrency(store: Store) {
    let limit = 10;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let state = store.state();
            tokio::spawn(async move { state.rate_limit("login:user-1", limit, MINUTE).await })
        })
        .collect();
    let mut remaining = BTreeSet::new();
    let mut rejected = 0;
    for task in tasks {
        let decision = task.await.expect("rate limit task panicked").unwrap();
        if decision.allowed {
            assert!(decision.retry_after.is_none());
            remaining.insert(decision.remaining);
        } else {
            rejected += 1;
            assert_eq!(decision.remaining, 0);
            let retry_after = decision.retry_after.expect("retry_after when rejected");
            assert!(retry_after <= MINUTE, "{retry_after:?}");
        }
    }
    assert_eq!(remaining, (0..limit).collect::<BTreeSet<_>>());
    assert_eq!(rejected, 40);
}

async fn rate_limit_retry_after(store: Store) {
    let state = store.state();
    let window = Duration::from_millis(500);
    state.check_rate_limit("api", 2, window).await.unwrap();
    state.check_rate_limit("api", 2, window).await.unwrap();
    state.check_rate_limit("other", 2, window).await.unwrap();

    let retry_after = match state.check_rate_limit("api", 2, window).await {
        Err(Error::RateLimited { retry_after }) => retry_after,
        other => panic!("expected RateLimited, got {other:?}"),
    };
    assert!(retry_after > Duration::ZERO);
    assert!(retry_after <= window, "{retry_after:?}");

    tokio::time::sleep(retry_after + Duration::from_millis(50)).await;
    let decision = state.rate_limit("api", 2, window).await.unwrap();
    assert!(decision.allowed);
    assert_eq!(decision.remaining, 1);
}

async fn rate_limit_input_is_validated(store: Store) {
    let state = store.state();
    assert_validation(state.rate_limit("api", 0, MINUTE).await, "limit");
    assert_validation(state.rate_limit("api", u64::MAX, MINUTE).await, "limit");
    assert_validation(state.rate_limit("api", 1, Duration::ZERO).await, "window");
    assert_validation(state.rate_limit("", 1, MINUTE).await, "key");
}

// ----------------------------------------------------------------- pub/sub

async fn pubsub_delivers_messages(store: Store) {
    let state = store.state();
    let mut first = state.subscribe("events").await.unwrap();
    let mut second = state.subscribe("events").await.unwrap();
    let mut other = state.subscribe("other").await.unwrap();
    assert_eq!(first.channel(), "events");

    for n in 0..3 {
        state.publish("events", &json!({"n": n})).await.unwrap();
    }
    for n in 0..3 {
        assert_eq!(receive(&mut first).await, json!({"n": n}));
    }
    // The Stream implementation yields the same messages as `next`.
    for n in 0..3 {
        let message = tokio::time::timeout(RECEIVE_TIMEOUT, StreamExt::next(&mut second)).await;
        assert_eq!(message.expect("message in time"), Some(json!({"n": n})));
    }
    let nothing = tokio::time::timeout(Duration::from_millis(200), other.next()).await;
    assert!(nothing.is_err(), "message leaked to another channel");

    drop(first);
    state.publish("events", &json!("after drop")).await.unwrap();
    assert_eq!(receive(&mut second).await, json!("after drop"));
}

async fn pubsub_isolated_between_stores(fixture: Fixture) {
    let store = fixture.opener().open().await;
    let isolated = fixture.isolated().await;
    let mut subscription = isolated.state().subscribe("events").await.unwrap();

    store.state().publish("events", &json!("a")).await.unwrap();
    let leaked = tokio::time::timeout(Duration::from_millis(300), subscription.next()).await;
    assert!(leaked.is_err(), "message crossed into another prefix");

    isolated
        .state()
        .publish("events", &json!("b"))
        .await
        .unwrap();
    assert_eq!(receive(&mut subscription).await, json!("b"));
}

// ------------------------------------------------------- temporary values

async fn temp_values_expire(store: Store) {
    let state = store.state();
    assert_eq!(state.get_temp("code").await.unwrap(), None);
    state
        .set_temp("code", &json!({"v": 1}), MINUTE)
        .await
        .unwrap();
    assert_eq!(state.get_temp("code").await.unwrap(), Some(json!({"v": 1})));
    state.set_temp("code", &json!([2]), MINUTE).await.unwrap();
    assert_eq!(state.get_temp("code").await.unwrap(), Some(json!([2])));
    assert!(state.delete_temp("code").await.unwrap());
    assert!(!state.delete_temp("code").await.unwrap());
    assert_eq!(state.get_temp("code").await.unwrap(), None);

    state
        .set_temp("short", &json!(true), SHORT_TTL)
        .await
        .unwrap();
    assert_eq!(state.get_temp("short").await.unwrap(), Some(json!(true)));
    tokio::time::sleep(SHORT_TTL * 2).await;
    assert_eq!(state.get_temp("short").await.unwrap(), None);

    let zero = state.set_temp("k", &json!(1), Duration::ZERO).await;
    assert_validation(zero, "ttl");
}

// ------------------------------------------------------------- durability

async fn restart_keeps_tokens_and_sessions(fixture: Fixture) {
    let opener = fixture.opener();
    let store = opener.open().await;
    let pair = issue(&store, MINUTE, MINUTE).await;
    let session = store
        .state()
        .create_session(session_data(1), MINUTE)
        .await
        .unwrap();
    store.close().await;
    drop(store);

    let reopened = opener.open().await;
    let state = reopened.state();
    let claims = state.verify_access(&pair.access_token).await.unwrap();
    assert_eq!(claims.family_id, pair.family_id);
    let read = state.get_session(&session.id).await.unwrap();
    assert_eq!(read, Some(session));
    let next = state.refresh(&pair.refresh_token).await.unwrap();
    assert_eq!(next.family_id, pair.family_id);
}

// ------------------------------------------------------ Redis-only checks

#[tokio::test]
async fn redis_unreachable_is_unavailable() {
    let dir = TempDir::new().expect("create temp dir");
    let config = StoreConfig {
        cache_url: "redis://app:hunter2-secret@127.0.0.1:1/?prefix=t:".to_string(),
        ..StoreConfig::embedded(dir.path().join("state.db"))
    };
    let store = Store::open(config).await.expect("open without Redis");
    assert!(!format!("{store:?}").contains("hunter2"));
    let state = store.state();

    let results: Vec<(&str, Result<()>)> = vec![
        ("issue", issue_result(&store).await),
        ("verify", state.verify_access("x").await.map(drop)),
        ("session", state.get_session("x").await.map(drop)),
        ("rate", state.rate_limit("k", 1, MINUTE).await.map(drop)),
        ("publish", state.publish("c", &json!(1)).await),
        ("subscribe", state.subscribe("c").await.map(drop)),
        ("temp", state.get_temp("k").await.map(drop)),
    ];
    for (operation, result) in results {
        match result {
            Err(error @ Error::Unavailable { .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains("redis (127.0.0.1:1)"),
                    "{operation}: {message}"
                );
                assert!(!message.contains("hunter2"), "{operation}: {message}");
            }
            other => panic!("{operation}: expected Unavailable, got {other:?}"),
        }
    }
}

async fn issue_result(store: &Store) -> Result<()> {
    store
        .state()
        .issue_tokens("user-1", json!({}), MINUTE, MINUTE)
        .await
        .map(drop)
}

#[tokio::test]
async fn unsupported_cache_urls_are_rejected() {
    let dir = TempDir::new().expect("create temp dir");
    let urls = [
        "redis+cluster://127.0.0.1:7000",
        // This build enables no TLS feature of redis-rs.
        "rediss://127.0.0.1:6380",
        "memcached://127.0.0.1",
        "redis://127.0.0.1:6379/?prefix=",
    ];
    for url in urls {
        let config = StoreConfig {
            cache_url: url.to_string(),
            ..StoreConfig::embedded(dir.path().join("state.db"))
        };
        match Store::open(config).await {
            Err(Error::Configuration { .. }) => {}
            other => panic!("{url}: expected a configuration error, got {other:?}"),
        }
    }
}
