//! The emulator fixture shared by `emulator.rs` and `reconcile.rs` (two binaries: the
//! reconciliation lists every endpoint, so it gets an emulator of its own).
#![allow(dead_code)]

use aws_sdk_cloudwatch as cw;
use aws_sdk_sagemaker as sm;
use aws_sdk_sns as sns;
use endpoint_guard::adapter::{CloudWatch, SageMakerEndpoints};
use endpoint_guard::{Config, Guard, Summary};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::output::MemorySink;
use sagewatch::testing::sample;
use sagewatch_aws::sns::SnsNotifier;
use sagewatch_emulator::{unique_name, CallCounter, Emulator, Inbox, ACCOUNT_ID};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub type G = Guard<SageMakerEndpoints, CloudWatch, CloudWatch, SnsNotifier, MemorySink>;

pub struct Fixture {
    pub sagemaker: sm::Client,
    pub cloudwatch: cw::Client,
    pub inbox: Inbox,
    pub calls: CallCounter,
    pub guard: G,
}

pub async fn fixture(tweak: impl FnOnce(&mut Config)) -> Fixture {
    let emu = Emulator::shared().await;
    let config = emu.sdk_config().await;
    let calls = CallCounter::default();
    let inbox = Inbox::new(&config, "alerts").await;
    let counted_sm = sm::Client::from_conf(
        sm::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let counted_cw = cw::Client::from_conf(
        cw::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let counted_sns = sns::Client::from_conf(
        sns::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let mut cfg = Config::new(&inbox.topic_arn);
    cfg.common.home_account = Some(ACCOUNT_ID.into());
    tweak(&mut cfg);
    let guard = Guard {
        endpoints: SageMakerEndpoints::new(counted_sm),
        alarms: CloudWatch::new(counted_cw.clone()),
        metrics: CloudWatch::new(counted_cw),
        notifier: SnsNotifier::new(counted_sns, inbox.topic_arn.clone()),
        chat: None,
        sink: MemorySink::default(),
        config: cfg,
    };
    Fixture {
        sagemaker: sm::Client::new(&config),
        cloudwatch: cw::Client::new(&config),
        inbox,
        calls,
        guard,
    }
}

pub fn variant(name: &str, model: &str, ty: &str, count: i32) -> sm::types::ProductionVariant {
    sm::types::ProductionVariant::builder()
        .variant_name(name)
        .model_name(model)
        .instance_type(sm::types::ProductionVariantInstanceType::from(ty))
        .initial_instance_count(count)
        .initial_variant_weight(1.0)
        .build()
}

impl Fixture {
    pub async fn model(&self) -> String {
        let name = unique_name("model");
        self.sagemaker
            .create_model()
            .model_name(&name)
            .execution_role_arn(format!("arn:aws:iam::{ACCOUNT_ID}:role/sm"))
            .primary_container(
                sm::types::ContainerDefinition::builder()
                    .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1")
                    .build(),
            )
            .send()
            .await
            .expect("CreateModel");
        name
    }

    pub async fn config(&self, variants: Vec<sm::types::ProductionVariant>) -> String {
        let name = unique_name("cfg");
        self.sagemaker
            .create_endpoint_config()
            .endpoint_config_name(&name)
            .set_production_variants(Some(variants))
            .send()
            .await
            .expect("CreateEndpointConfig");
        name
    }

    pub async fn endpoint(&self, config: &str, tags: &[(&str, &str)]) -> String {
        let name = unique_name("ep");
        let tags = tags
            .iter()
            .map(|(k, v)| sm::types::Tag::builder().key(*k).value(*v).build())
            .collect();
        self.sagemaker
            .create_endpoint()
            .endpoint_name(&name)
            .endpoint_config_name(config)
            .set_tags(Some(tags))
            .send()
            .await
            .expect("CreateEndpoint");
        name
    }

    pub async fn run(&self, payload: Value) -> Summary {
        self.guard
            .handle(LambdaEvent::new(payload, Context::default()))
            .await
            .expect("handled")
    }

    /// Every alarm under `prefix`, as (name → the fields PutMetricAlarm set).
    pub async fn alarms(&self, prefix: &str) -> BTreeMap<String, Value> {
        let out = self
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .send()
            .await
            .expect("DescribeAlarms");
        out.metric_alarms()
            .iter()
            .map(|a| {
                let metrics: Vec<Value> = a
                    .metrics()
                    .iter()
                    .map(|q| {
                        json!({
                            "id": q.id(),
                            "expression": q.expression(),
                            "metric": q.metric_stat().and_then(|s| s.metric()).and_then(|m| m.metric_name()),
                        })
                    })
                    .collect();
                (
                    a.alarm_name().unwrap_or_default().to_owned(),
                    json!({
                        "metric": a.metric_name(),
                        "namespace": a.namespace(),
                        "statistic": a.statistic().map(|s| s.as_str().to_owned()),
                        "extended": a.extended_statistic(),
                        "threshold": a.threshold(),
                        "period": a.period(),
                        "evaluation_periods": a.evaluation_periods(),
                        "comparison": a.comparison_operator().map(|c| c.as_str().to_owned()),
                        "actions": a.alarm_actions(),
                        "ok_actions": a.ok_actions(),
                        "description": a.alarm_description(),
                        "dimensions": a.dimensions().iter().map(|d| format!("{}={}", d.name().unwrap_or(""), d.value().unwrap_or(""))).collect::<Vec<_>>(),
                        "metrics": metrics,
                    }),
                )
            })
            .collect()
    }
}

/// The sample, retargeted at `endpoint` with `status`.
pub fn state_change(file: &str, endpoint: &str) -> Value {
    let mut e = sample(file);
    e["detail"]["EndpointName"] = json!(endpoint);
    e["detail"]["EndpointArn"] = json!(format!(
        "arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:endpoint/{}",
        endpoint.to_lowercase()
    ));
    e
}

pub const PER_CPU_VARIANT: &[&str] = &[
    "cpu",
    "memory",
    "disk",
    "invocations-high",
    "4xx",
    "5xx",
    "invocations-per-instance",
    "model-latency",
    "overhead-latency",
];
