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
use sagewatch::testing::fuzz::block_on;
use serde_json::Value;
use std::sync::Mutex;

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
        chat: None,
        claims: MemoryClaims::default(),
        sink: MemorySink::default(),
        config: Config {
            common,
            budget: LogBudget::default(),
            alerts_topic_arn: String::new(),
            chat_topic_arn: None,
            claims: None,
        },
    };
    let out = block_on(e.handle(LambdaEvent::new(payload, Context::default())));
    if let Ok(Outcome::Rejected { reason, .. }) = &out {
        if reason == "invalid_input" {
            prop_assert_eq!(*aws.0.lock().unwrap(), 0);
            prop_assert!(e.claims.calls().is_empty());
            prop_assert!(e.notifier.sent().is_empty());
        }
    }
    Ok(())
}

sagewatch::fuzz_handler!(check);
