//! The handler on hostile input (arbitrary JSON, mutated samples, byte-mutated samples): it
//! never panics, and a payload it cannot read touches nothing (no AWS call, no notice).
//! `PROPTEST_CASES` sets the count (default 256); `make fuzz` runs many more.

use chrono::{DateTime, Duration, Utc};
use endpoint_guard::alarms::{Alarm, Variant};
use endpoint_guard::ports::{
    Alarms, DeleteOutcome, EndpointSummary, EndpointView, Endpoints, ExistingAlarm, Metrics, Series,
};
use endpoint_guard::{Config, Guard, Summary};
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use sagewatch::error::AwsError;
use sagewatch::notify::MemoryNotifier;
use sagewatch::output::MemorySink;
use sagewatch::testing::fuzz::block_on;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Every endpoint exists, InService, old, idle and tagged for deletion: the most an input can
/// make the function do.
#[derive(Default)]
struct Everything(Mutex<Vec<String>>);

impl Everything {
    fn note(&self, call: &str) {
        self.0.lock().unwrap().push(call.to_owned());
    }
}

fn view(name: &str) -> EndpointView {
    EndpointView {
        name: name.to_owned(),
        arn: Some(format!(
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"
        )),
        config_name: Some("c".into()),
        status: "InService".into(),
        creation_time: Some(Utc::now() - Duration::days(2)),
        variants: vec![Variant {
            name: "AllTraffic".into(),
            instance_type: Some("ml.g5.xlarge".into()),
            instance_count: 1,
            serverless: false,
        }],
    }
}

impl Endpoints for &Everything {
    async fn describe(&self, name: &str) -> Result<Option<EndpointView>, AwsError> {
        self.note("describe");
        Ok(Some(view(name)))
    }
    async fn list_in_service(&self) -> Result<Vec<EndpointSummary>, AwsError> {
        self.note("list");
        let v = view("e");
        Ok(vec![EndpointSummary {
            name: v.name,
            arn: v.arn,
            creation_time: v.creation_time,
            last_modified_time: v.creation_time,
        }])
    }
    async fn tags(&self, _: &str) -> Result<BTreeMap<String, String>, AwsError> {
        self.note("tags");
        Ok([("sagewatch:idle-action".to_owned(), "delete".to_owned())].into())
    }
    async fn delete(&self, _: &str) -> Result<DeleteOutcome, AwsError> {
        self.note("delete");
        Ok(DeleteOutcome::Deleting)
    }
}

impl Alarms for &Everything {
    async fn list(&self, _: &str) -> Result<Vec<ExistingAlarm>, AwsError> {
        self.note("describe_alarms");
        Ok(Vec::new())
    }
    async fn put(&self, _: &Alarm, _: &[String]) -> Result<(), AwsError> {
        self.note("put");
        Ok(())
    }
    async fn delete(&self, _: &[String]) -> Result<(), AwsError> {
        self.note("delete_alarms");
        Ok(())
    }
}

impl Metrics for &Everything {
    async fn invocation_sums(
        &self,
        series: &[Series],
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<HashMap<Series, f64>, AwsError> {
        self.note("metrics");
        Ok(series.iter().map(|s| (s.clone(), 0.0)).collect())
    }
}

fn check(payload: Value) -> Result<(), TestCaseError> {
    let fake = Everything::default();
    let mut config = Config::new("arn:aws:sns:us-east-1:123456789012:alerts");
    config.common.home_account = Some("123456789012".into());
    let g = Guard {
        endpoints: &fake,
        alarms: &fake,
        metrics: &fake,
        notifier: MemoryNotifier::default(),
        chat: None,
        sink: MemorySink::default(),
        config,
    };
    let out = block_on(g.handle(LambdaEvent::new(payload, Context::default())));
    if let Ok(Summary::Alarms(sync)) = out {
        if sync.decision == "invalid" {
            prop_assert!(
                fake.0.lock().unwrap().is_empty(),
                "invalid input made calls"
            );
            prop_assert!(g.notifier.sent().is_empty());
        }
    }
    Ok(())
}

sagewatch::fuzz_handler!(check);
