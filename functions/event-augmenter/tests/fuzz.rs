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
use sagewatch::testing::fuzz::block_on;
use serde_json::Value;
use std::sync::Mutex;

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
        jobs: event_augmenter::ports::NoJobs,
        bus: event_augmenter::ports::NoBus,
        config: Config::default(),
    };
    let out = block_on(a.handle(LambdaEvent::new(payload, Context::default())));
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

sagewatch::fuzz_handler!(check);
