//! "Do this side effect once", with at-least-once delivery: one claim per effect in the shared
//! table (the Powertools idempotency shape). One port ([`ClaimStore`]), one decision rule
//! ([`decide`]), the item schema ([`schema`]); the DynamoDB adapter lives in `sagewatch-aws`,
//! the in-memory one ([`MemoryClaims`]) here.
//!
//! Every claim knows its owner: the attempt that made it (the function name and the Lambda
//! request id). That tells the cases apart that a bare "key exists" cannot:
//! - the key is ours because our own earlier write committed and its answer was lost (the SDK
//!   retried the same put): go on, it is not a duplicate;
//! - another attempt finished the work: a duplicate, nothing to do;
//! - another attempt holds it and may still be running: retry later (never "duplicate", or a
//!   crash between claim and side effect would lose the work);
//! - another attempt held it and its lease (its Lambda deadline) has passed: it ended without
//!   finishing, take it over.
//!
//! Two modes: [`Mode::Once`] when the claim itself is the commit point (count an event once:
//! the item is written `done`), [`Mode::Pending`] when the side effect follows the claim (a
//! publish): `pending` until [`ClaimStore::complete`], given back by [`ClaimStore::release`]
//! when the side effect failed.

use crate::error::{AwsError, ErrorKind};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The stored item, attribute by attribute (partition key `pk`, TTL attribute `expires_at`).
/// The DynamoDB adapter, the template and the emulator fixture use these names.
pub mod schema {
    pub const KEY: &str = "pk";
    /// `pending` or `done`.
    pub const STATE: &str = "state";
    pub const OWNER: &str = "owner";
    /// Epoch milliseconds after which a `pending` claim's owner has certainly ended.
    pub const LEASE_UNTIL_MS: &str = "lease_until_ms";
    /// Epoch seconds.
    pub const CLAIMED_AT: &str = "claimed_at";
    /// Epoch seconds; the table's TTL attribute.
    pub const EXPIRES_AT: &str = "expires_at";
    /// The EventBridge event id, kept for investigations.
    pub const EVENT_ID: &str = "event_id";
    pub const PENDING: &str = "pending";
    pub const DONE: &str = "done";
}

/// DynamoDB allows 2048 bytes of partition key; longer keys are shortened with a hash.
pub const MAX_KEY_BYTES: usize = 1024;

/// `scope#part#part…`, shortened with a stable hash past [`MAX_KEY_BYTES`]. The scope is the
/// owning function's name, so IAM can limit each function to its own keys
/// (`dynamodb:LeadingKeys`).
pub fn key(scope: &str, parts: &[&str]) -> String {
    let mut key = String::from(scope);
    for p in parts {
        key.push('#');
        key.push_str(p);
    }
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut cut = MAX_KEY_BYTES - 17;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}#{hash:016x}", &key[..cut])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The claim is the commit point: written `done` at once.
    Once,
    /// The side effect follows: `pending` until completed.
    Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Done,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => schema::PENDING,
            State::Done => schema::DONE,
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        match s {
            schema::PENDING => Some(State::Pending),
            schema::DONE => Some(State::Done),
            _ => None,
        }
    }
}

/// One attempt's request to own `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub key: String,
    /// This attempt (e.g. `failure-enricher:<request id>`).
    pub owner: String,
    pub mode: Mode,
    pub now: DateTime<Utc>,
    /// When this attempt has certainly ended (its Lambda deadline).
    pub lease_until: DateTime<Utc>,
    /// When the table may forget the claim (TTL).
    pub expires_at: DateTime<Utc>,
    pub event_id: Option<String>,
}

impl Claim {
    /// The state this claim writes.
    pub fn state(&self) -> State {
        match self.mode {
            Mode::Once => State::Done,
            Mode::Pending => State::Pending,
        }
    }

    /// What the store keeps when the claim is granted.
    pub fn item(&self) -> ClaimItem {
        ClaimItem {
            state: self.state(),
            owner: self.owner.clone(),
            lease_until_ms: self.lease_until.timestamp_millis(),
            claimed_at: self.now.timestamp(),
            expires_at: self.expires_at.timestamp(),
            event_id: self.event_id.clone(),
        }
    }
}

/// The invocation attempt that makes claims: `<function>:<request id>` owns them until the
/// attempt's deadline (Lambda ends it then). Without a deadline (local tools, tests with a
/// default context) the lease is Lambda's longest run, 15 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub owner: String,
    pub lease_until: DateTime<Utc>,
}

impl Attempt {
    pub const MAX_LAMBDA_RUN: Duration = Duration::minutes(15);

    pub fn new(function: &str, request_id: &str, deadline_ms: u64, now: DateTime<Utc>) -> Self {
        // Without a request id (local runs) the owner must still be unique per attempt: a
        // shared one would make a second delivery look like this attempt's own write.
        static LOCAL_ATTEMPTS: AtomicU64 = AtomicU64::new(0);
        let owner = if request_id.is_empty() {
            let n = LOCAL_ATTEMPTS.fetch_add(1, Ordering::Relaxed);
            format!("{function}:local-{}-{n}", std::process::id())
        } else {
            format!("{function}:{request_id}")
        };
        let deadline = i64::try_from(deadline_ms)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .filter(|d| *d > now);
        Attempt {
            owner,
            lease_until: deadline.unwrap_or(now + Self::MAX_LAMBDA_RUN),
        }
    }

    /// The attempt at one record of a batch: its own owner, so two copies of one event in
    /// the same batch are two attempts (the second a duplicate), not one attempt's own write.
    pub fn record(&self, index: usize) -> Attempt {
        Attempt {
            owner: format!("{}#{index}", self.owner),
            lease_until: self.lease_until,
        }
    }

    /// This attempt's claim of `key`, kept `ttl_days` by the table.
    pub fn claim(
        &self,
        key: String,
        mode: Mode,
        now: DateTime<Utc>,
        ttl_days: u32,
        event_id: Option<String>,
    ) -> Claim {
        Claim {
            key,
            owner: self.owner.clone(),
            mode,
            now,
            lease_until: self.lease_until,
            expires_at: now + Duration::days(i64::from(ttl_days)),
            event_id,
        }
    }
}

/// A stored claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimItem {
    pub state: State,
    pub owner: String,
    pub lease_until_ms: i64,
    pub claimed_at: i64,
    pub expires_at: i64,
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// The key was free.
    New,
    /// Our own earlier write (its answer was lost): go on.
    Own,
    /// A pending claim whose owner has ended without finishing.
    TakenOver { from: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// Ours to do.
    Acquired(Acquired),
    /// The work was done: by this attempt (`by_me`) or by another one. A duplicate.
    Done { by_me: bool },
    /// Another attempt holds a live lease: retry later.
    InProgress { owner: String, lease_until_ms: i64 },
}

/// The one rule: what `claim` gets, given what is stored. The DynamoDB adapter writes exactly
/// when this says [`Claimed::Acquired`] (its condition expression says the same) and reads the
/// old item of a failed condition through this function.
pub fn decide(existing: Option<&ClaimItem>, claim: &Claim) -> Claimed {
    let Some(item) = existing else {
        return Claimed::Acquired(Acquired::New);
    };
    if item.owner == claim.owner {
        return if item.state == claim.state() {
            Claimed::Acquired(Acquired::Own)
        } else {
            Claimed::Done { by_me: true }
        };
    }
    match item.state {
        State::Done => Claimed::Done { by_me: false },
        State::Pending if item.lease_until_ms < claim.now.timestamp_millis() => {
            Claimed::Acquired(Acquired::TakenOver {
                from: item.owner.clone(),
            })
        }
        State::Pending => Claimed::InProgress {
            owner: item.owner.clone(),
            lease_until_ms: item.lease_until_ms,
        },
    }
}

/// Where claims are kept.
pub trait ClaimStore: Send + Sync {
    /// Writes the claim when [`decide`] grants it; says what happened.
    fn claim(&self, claim: &Claim) -> impl Future<Output = Result<Claimed, AwsError>> + Send;
    /// `pending` → `done`, only while `owner` holds it (idempotent). An error of kind
    /// `ConditionFailed` means another attempt took the claim over.
    fn complete(&self, key: &str, owner: &str)
        -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Gives a pending claim back after a failed side effect, only while `owner` holds it.
    fn release(&self, key: &str, owner: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

impl<T: ClaimStore> ClaimStore for &T {
    fn claim(&self, claim: &Claim) -> impl Future<Output = Result<Claimed, AwsError>> + Send {
        (**self).claim(claim)
    }
    fn complete(
        &self,
        key: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).complete(key, owner)
    }
    fn release(&self, key: &str, owner: &str) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).release(key, owner)
    }
}

/// No table configured: every claim is granted (every delivery does the work; documented
/// where a function allows it).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClaims;

impl ClaimStore for NoClaims {
    async fn claim(&self, _claim: &Claim) -> Result<Claimed, AwsError> {
        Ok(Claimed::Acquired(Acquired::New))
    }
    async fn complete(&self, _key: &str, _owner: &str) -> Result<(), AwsError> {
        Ok(())
    }
    async fn release(&self, _key: &str, _owner: &str) -> Result<(), AwsError> {
        Ok(())
    }
}

/// Faults a test can ask [`MemoryClaims`] for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next call fails before it changes anything.
    Fail(AwsError),
    /// The next claim commits, then its answer is lost (the caller sees `Unavailable`).
    LoseAnswer,
}

/// Claims in memory, with the same rule as the table; for handler tests (and local tools).
#[derive(Debug, Default)]
pub struct MemoryClaims {
    items: Mutex<HashMap<String, ClaimItem>>,
    faults: Mutex<Vec<Fault>>,
    calls: Mutex<Vec<String>>,
}

impl MemoryClaims {
    pub fn items(&self) -> HashMap<String, ClaimItem> {
        self.items.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn insert(&self, key: &str, item: ClaimItem) {
        if let Ok(mut m) = self.items.lock() {
            m.insert(key.to_owned(), item);
        }
    }

    /// Queues a fault for the next calls, in order.
    pub fn inject(&self, fault: Fault) {
        if let Ok(mut f) = self.faults.lock() {
            f.push(fault);
        }
    }

    /// `claim`, `complete` and `release` calls so far, with their key.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn next_fault(&self, op: &str, key: &str) -> Option<Fault> {
        if let Ok(mut c) = self.calls.lock() {
            c.push(format!("{op} {key}"));
        }
        let mut f = self.faults.lock().ok()?;
        (!f.is_empty()).then(|| f.remove(0))
    }

    fn with_items<R>(&self, f: impl FnOnce(&mut HashMap<String, ClaimItem>) -> R) -> R {
        match self.items.lock() {
            Ok(mut m) => f(&mut m),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

fn lost_answer(operation: &'static str) -> AwsError {
    AwsError::new(
        operation,
        ErrorKind::Unavailable,
        "ResponseLost",
        "the write committed but its answer was lost",
    )
}

impl ClaimStore for MemoryClaims {
    async fn claim(&self, claim: &Claim) -> Result<Claimed, AwsError> {
        let fault = self.next_fault("claim", &claim.key);
        if let Some(Fault::Fail(e)) = fault {
            return Err(e);
        }
        let result = self.with_items(|m| {
            let decision = decide(m.get(&claim.key), claim);
            if matches!(decision, Claimed::Acquired(_)) {
                m.insert(claim.key.clone(), claim.item());
            }
            decision
        });
        match fault {
            Some(Fault::LoseAnswer) => Err(lost_answer("PutItem")),
            _ => Ok(result),
        }
    }

    async fn complete(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        if let Some(Fault::Fail(e)) = self.next_fault("complete", key) {
            return Err(e);
        }
        self.with_items(|m| match m.get_mut(key) {
            Some(item) if item.owner == owner => {
                item.state = State::Done;
                Ok(())
            }
            _ => Err(AwsError::new(
                "UpdateItem",
                ErrorKind::ConditionFailed,
                "ConditionalCheckFailedException",
                "the claim is not held by this owner",
            )),
        })
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        if let Some(Fault::Fail(e)) = self.next_fault("release", key) {
            return Err(e);
        }
        self.with_items(|m| {
            if m.get(key).is_some_and(|i| i.owner == owner) {
                m.remove(key);
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_owns_its_claims_until_its_deadline() {
        let now = Utc::now();
        let deadline = (now + Duration::seconds(60)).timestamp_millis() as u64;
        let a = Attempt::new("failure-enricher", "req-1", deadline, now);
        assert_eq!(a.owner, "failure-enricher:req-1");
        assert_eq!(a.lease_until.timestamp_millis(), deadline as i64);
        // A default Context has no deadline: Lambda's longest run.
        let local = Attempt::new("failure-enricher", "", 0, now);
        assert_eq!(local.lease_until, now + Attempt::MAX_LAMBDA_RUN);
        assert!(local.owner.starts_with("failure-enricher:local-"));
        // Two local attempts at the same instant are still two owners.
        assert_ne!(
            local.owner,
            Attempt::new("failure-enricher", "", 0, now).owner
        );
    }

    fn claim(owner: &str, mode: Mode, now: DateTime<Utc>) -> Claim {
        Claim {
            key: "f#k".into(),
            owner: owner.into(),
            mode,
            now,
            lease_until: now + Duration::seconds(60),
            expires_at: now + Duration::days(30),
            event_id: None,
        }
    }

    #[test]
    fn the_rule_tells_every_case_apart() {
        let t0 = Utc::now();
        let a = claim("a", Mode::Pending, t0);
        assert_eq!(decide(None, &a), Claimed::Acquired(Acquired::New));
        let held = a.item();
        // Our own write, met again after a lost answer.
        assert_eq!(decide(Some(&held), &a), Claimed::Acquired(Acquired::Own));
        // Another attempt while a's lease is live: retry later, never "duplicate".
        let b = claim("b", Mode::Pending, t0 + Duration::seconds(30));
        assert!(matches!(
            decide(Some(&held), &b),
            Claimed::InProgress { ref owner, .. } if owner == "a"
        ));
        // After a's deadline: a ended without finishing; b takes over.
        let late = claim("b", Mode::Pending, t0 + Duration::seconds(61));
        assert_eq!(
            decide(Some(&held), &late),
            Claimed::Acquired(Acquired::TakenOver { from: "a".into() })
        );
        // Done: a duplicate for anyone, "by me" for the owner.
        let done = ClaimItem {
            state: State::Done,
            ..held
        };
        assert_eq!(decide(Some(&done), &late), Claimed::Done { by_me: false });
        assert_eq!(decide(Some(&done), &a), Claimed::Done { by_me: true });
        // Once mode writes `done`: meeting it again with the same owner is our own write.
        let once = claim("a", Mode::Once, t0);
        assert_eq!(
            decide(Some(&once.item()), &once),
            Claimed::Acquired(Acquired::Own)
        );
        assert_eq!(
            decide(Some(&once.item()), &claim("b", Mode::Once, t0)),
            Claimed::Done { by_me: false }
        );
    }

    #[tokio::test]
    async fn a_lost_answer_is_met_as_our_own_write() {
        let store = MemoryClaims::default();
        let c = claim("a", Mode::Once, Utc::now());
        store.inject(Fault::LoseAnswer);
        let e = store.claim(&c).await.unwrap_err();
        assert!(e.is_retryable());
        // The SDK's retry of the same put.
        assert_eq!(
            store.claim(&c).await.unwrap(),
            Claimed::Acquired(Acquired::Own)
        );
        let other = claim("b", Mode::Once, Utc::now());
        assert_eq!(
            store.claim(&other).await.unwrap(),
            Claimed::Done { by_me: false }
        );
    }

    #[tokio::test]
    async fn complete_and_release_only_act_for_the_owner() {
        let store = MemoryClaims::default();
        let c = claim("a", Mode::Pending, Utc::now());
        store.claim(&c).await.unwrap();
        store.release("f#k", "b").await.unwrap();
        assert!(
            store.items().contains_key("f#k"),
            "b may not release a's claim"
        );
        let e = store.complete("f#k", "b").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::ConditionFailed);
        store.complete("f#k", "a").await.unwrap();
        store.complete("f#k", "a").await.unwrap(); // idempotent
        assert_eq!(store.items()["f#k"].state, State::Done);
        store.release("f#k", "a").await.unwrap();
        assert!(store.items().is_empty());
    }

    #[test]
    fn keys_carry_the_scope_and_stay_under_the_limit() {
        assert_eq!(
            key("event-augmenter", &["1", "training"]),
            "event-augmenter#1#training"
        );
        let long = "x".repeat(3000);
        let k = key("failure-enricher", &[&long, "Completed"]);
        assert!(k.len() <= MAX_KEY_BYTES && k.starts_with("failure-enricher#"));
        assert_eq!(k, key("failure-enricher", &[&long, "Completed"]), "stable");
        assert_ne!(k, key("failure-enricher", &[&long, "Failed"]));
    }
}
