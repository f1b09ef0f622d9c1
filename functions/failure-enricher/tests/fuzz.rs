//! The handler on hostile input (arbitrary JSON, mutated samples, byte-mutated samples): it
//! never panics, and an input it rejects as invalid touches nothing (no Describe, no logs
//! read, no claim, no notice). `PROPTEST_CASES` sets the count (default 256).

use failure_enricher::job::JobFacts;
use failure_enricher::logs::{LogBudget, StreamInfo};
use failure_enricher::ports::{Jobs, LogPage, Logs};
use failure_enricher::{Config, Enricher, Outcome};
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use sagewatch::claims::MemoryClaims;
use sagewatch::config::Common;
use sagewatch::error::AwsError;
use sagewatch::events::JobType;
use sagewatch::notify::MemoryNotifier;
use sagewatch::output::MemorySink;
use sagewatch::target::Target;
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

/// Every job exists and failed; every stream is empty; calls are counted.
#[derive(Default)]
struct AnyJob(Mutex<usize>);

impl Jobs for AnyJob {
    async fn describe(
        &self,
        _: &Target,
        _: JobType,
        name: &str,
    ) -> Result<Option<JobFacts>, AwsError> {
        *self.0.lock().unwrap() += 1;
        Ok(Some(JobFacts {
            name: name.into(),
            status: Some("Failed".into()),
            failure_reason: Some("AlgorithmError: see logs".into()),
            ..JobFacts::default()
        }))
    }
}

impl Logs for AnyJob {
    async fn streams(&self, _: &Target, _: &str, _: &str) -> Result<Vec<StreamInfo>, AwsError> {
        *self.0.lock().unwrap() += 1;
        Ok(Vec::new())
    }
    async fn page(
        &self,
        _: &Target,
        _: &str,
        _: &str,
        _: usize,
        _: Option<String>,
    ) -> Result<LogPage, AwsError> {
        *self.0.lock().unwrap() += 1;
        Ok(LogPage::default())
    }
}

fn check(payload: Value) -> Result<(), TestCaseError> {
    let mut common = Common::new(failure_enricher::FUNCTION);
    common.home_account = Some("123456789012".into());
    let aws = AnyJob::default();
    let e = Enricher {
        jobs: &aws,
        logs: &aws,
        notifier: MemoryNotifier::default(),
        claims: MemoryClaims::default(),
        sink: MemorySink::default(),
        config: Config {
            common,
            budget: LogBudget::default(),
            alerts_topic_arn: String::new(),
            claims: None,
        },
    };
    let out = RUNTIME.block_on(e.handle(LambdaEvent::new(payload, Context::default())));
    if let Ok(Outcome::Rejected { reason, .. }) = &out {
        if reason == "invalid_input" {
            prop_assert_eq!(*aws.0.lock().unwrap(), 0);
            prop_assert!(e.claims.calls().is_empty());
            prop_assert!(e.notifier.sent().is_empty());
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
