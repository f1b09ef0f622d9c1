//! The handler on hostile input (arbitrary JSON, mutated samples, byte-mutated samples — the
//! schedule input and the EventBridge events among them): it never panics, and a payload it
//! refuses as invalid invokes no endpoint and notifies nobody.
//! `PROPTEST_CASES` sets the count (default 256); `make fuzz` runs many more.

use endpoint_canary::ports::{Answer, Endpoints, Invocation, InvokeError};
use endpoint_canary::{Canary, Config};
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use sagewatch::notify::MemoryNotifier;
use sagewatch::output::MemorySink;
use sagewatch::testing::fuzz::block_on;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Every endpoint answers at once with an empty JSON object: the most an input can make the
/// function do, without waiting on a timeout.
#[derive(Default)]
struct Answers(AtomicUsize);

impl Endpoints for Answers {
    async fn invoke(&self, _: &Invocation) -> Result<Answer, InvokeError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Answer {
            body: b"{}".to_vec(),
            content_type: Some("application/json".into()),
            invoked_variant: None,
        })
    }
}

fn check(payload: Value) -> Result<(), TestCaseError> {
    let c = Canary {
        endpoints: Answers::default(),
        notifier: MemoryNotifier::default(),
        sink: MemorySink::default(),
        config: Config::new("arn:aws:sns:us-east-1:123456789012:alerts"),
    };
    let out = block_on(c.handle(LambdaEvent::new(payload, Context::default())));
    if let Ok(summary) = out {
        if summary.invalid.is_some() {
            prop_assert_eq!(
                c.endpoints.0.load(Ordering::Relaxed),
                0,
                "invalid input invoked"
            );
            prop_assert!(c.notifier.sent().is_empty(), "invalid input notified");
            // Counted: the health line says why.
            prop_assert!(
                c.sink
                    .json()
                    .iter()
                    .any(|l| l.get("InvalidEvents").is_some()),
                "invalid input not counted"
            );
        }
    }
    Ok(())
}

sagewatch::fuzz_handler!(check);
