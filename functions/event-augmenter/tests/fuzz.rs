//! The handler on hostile input (arbitrary JSON, mutated samples and SQS batches, byte-mutated
//! samples): it never panics, and an event it cannot read touches nothing (no claim, no
//! metrics query, no line but `InvalidEvents`). `PROPTEST_CASES` sets the count (default 256).

use event_augmenter::ports::{
    DiscoveredHosts, HostDiscovery, HostMetrics, MetricRequest, MetricValues,
};
use event_augmenter::{Augmenter, Config, Disposition, Response};
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use sagewatch::claims::MemoryClaims;
use sagewatch::error::AwsError;
use sagewatch::output::MemorySink;
use sagewatch::testing::fuzz::{config, json_value, mutate, mutate_bytes, SAMPLES};
use serde_json::Value;
use std::sync::LazyLock;
use std::sync::Mutex;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

/// Answers every query with no data and counts the requests.
#[derive(Default)]
struct NoData(Mutex<usize>);

impl HostMetrics for NoData {
    async fn fetch(&self, _: &MetricRequest) -> Result<MetricValues, AwsError> {
        *self.0.lock().unwrap() += 1;
        Ok(MetricValues::default())
    }
    async fn discover_hosts(&self, _: &HostDiscovery) -> Result<DiscoveredHosts, AwsError> {
        *self.0.lock().unwrap() += 1;
        Ok(DiscoveredHosts::default())
    }
}

fn check(payload: Value) -> Result<(), TestCaseError> {
    let a = Augmenter {
        dedupe: MemoryClaims::default(),
        metrics: NoData::default(),
        sink: MemorySink::default(),
        config: Config::default(),
    };
    let out = RUNTIME.block_on(a.handle(LambdaEvent::new(payload, Context::default())));
    if let Ok(Response::Direct(summary)) = out {
        if summary
            .outcomes
            .iter()
            .all(|o| o.result == Disposition::Invalid)
        {
            prop_assert!(a.dedupe.calls().is_empty());
            prop_assert_eq!(*a.metrics.0.lock().unwrap(), 0);
            prop_assert!(a
                .sink
                .json()
                .iter()
                .all(|l| l.get("InvalidEvents").is_some()));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_json(v in json_value()) {
        check(v)?;
    }

    #[test]
    fn mutated_samples(
        sample in 0usize..1000,
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), json_value()), 1..6),
    ) {
        let mut v = SAMPLES[sample % SAMPLES.len()].1.clone();
        for (index, op, replacement) in &edits {
            mutate(&mut v, *index, *op, replacement);
        }
        check(v)?;
    }

    #[test]
    fn byte_mutated_samples(
        sample in 0usize..1000,
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = serde_json::to_vec(&SAMPLES[sample % SAMPLES.len()].1).unwrap_or_default();
        for (at, op, byte) in &edits {
            mutate_bytes(&mut bytes, *at, *op, *byte);
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            check(v)?;
        }
    }
}
