//! endpoint-guard against the local emulator with the real SDK clients: endpoints created
//! with SageMaker calls, alarms read back with DescribeAlarms, metrics seeded with
//! PutMetricData, the digest received by an SQS subscriber, AWS calls counted.

mod support;

use aws_sdk_cloudwatch as cw;
use endpoint_guard::idle::Action;
use endpoint_guard::Summary;
use sagewatch::instance_types::lookup;
use sagewatch::testing::sample;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::{fixture, state_change, variant, PER_CPU_VARIANT};

#[tokio::test]
async fn alarms_follow_a_two_variant_endpoint_through_update_and_delete() {
    let f = fixture(|_| {}).await;
    let model = f.model().await;
    let both = f
        .config(vec![
            variant("gpu", &model, "ml.g4dn.12xlarge", 1),
            variant("cpu", &model, "ml.m5.xlarge", 2),
        ])
        .await;
    let ep = f
        .endpoint(&both, &[("sagewatch:latency-p90-ms", "800")])
        .await;
    // Someone else's alarm under a look-alike name (an endpoint whose name extends ours),
    // and an unrelated one: neither may be touched.
    let neighbour = format!("sagewatch-endpoint-{ep}-2-AllTraffic-cpu");
    for name in [neighbour.as_str(), "team-alarm-cpu"] {
        f.cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("/aws/sagemaker/Endpoints")
            .metric_name("CPUUtilization")
            .dimensions(
                cw::types::Dimension::builder()
                    .name("EndpointName")
                    .value(format!("{ep}-2"))
                    .build(),
            )
            .statistic(cw::types::Statistic::Average)
            .period(300)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(cw::types::ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .expect("PutMetricAlarm");
    }
    let prefix = format!("sagewatch-endpoint-{ep}-");
    let in_service = state_change("endpoint-state-change-in-service-2-variants.json", &ep);

    f.run(in_service.clone()).await;
    let first = f.alarms(&prefix).await;
    let mut want: Vec<String> = PER_CPU_VARIANT
        .iter()
        .flat_map(|s| [format!("{prefix}gpu-{s}"), format!("{prefix}cpu-{s}")])
        .chain([
            format!("{prefix}gpu-gpu"),
            format!("{prefix}gpu-gpu-memory"),
        ])
        .collect();
    want.push(neighbour.clone());
    want.sort();
    assert_eq!(first.keys().cloned().collect::<Vec<_>>(), want);
    let g5 = lookup("ml.g4dn.12xlarge").unwrap();
    let m5 = lookup("ml.m5.xlarge").unwrap();
    assert_eq!(
        first[&format!("{prefix}gpu-cpu")]["threshold"],
        json!(80.0 * f64::from(g5.vcpus))
    );
    assert_eq!(
        first[&format!("{prefix}cpu-cpu")]["threshold"],
        json!(80.0 * f64::from(m5.vcpus))
    );
    assert_eq!(
        first[&format!("{prefix}gpu-gpu")]["threshold"],
        json!(80.0 * f64::from(g5.gpus))
    );
    assert_eq!(
        first[&format!("{prefix}gpu-memory")]["threshold"],
        json!(80.0)
    );
    // The tag override: p90 above 800 ms, in microseconds.
    let latency = &first[&format!("{prefix}cpu-model-latency")];
    assert_eq!(latency["threshold"], json!(800_000.0));
    assert_eq!(latency["extended"], json!("p90"));
    assert_eq!(latency["actions"], json!([f.inbox.topic_arn]));
    assert_eq!(latency["ok_actions"], json!([f.inbox.topic_arn]));
    // The error rate is metric math over Invocations.
    let rate = &first[&format!("{prefix}cpu-5xx")];
    let ids: Vec<&str> = rate["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["m1", "m2", "e1"], "{rate}");
    assert_eq!(rate["metrics"][1]["metric"], json!("Invocations"));
    let counts = f.calls.counts();
    assert_eq!(counts.get("DescribeEndpoint"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("DescribeEndpointConfig"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("DescribeAlarms"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("PutMetricAlarm"),
        Some(&(want.len() - 1)),
        "{counts:?}"
    );
    assert_eq!(counts.get("DeleteAlarms"), None, "{counts:?}");

    // A second delivery of the same event changes nothing.
    f.calls.reset();
    f.run(in_service.clone()).await;
    assert_eq!(f.alarms(&prefix).await, first);
    let counts = f.calls.counts();
    assert_eq!(counts.get("DeleteAlarms"), None, "{counts:?}");
    // Read back equal to what it would put: not written again.
    assert_eq!(counts.get("PutMetricAlarm"), None, "{counts:?}");

    // A changed override is written again: only the two model-latency alarms.
    f.calls.reset();
    let mut changed = in_service.clone();
    changed["detail"]["Tags"]["sagewatch:latency-p90-ms"] = json!("900");
    f.run(changed).await;
    let counts = f.calls.counts();
    assert_eq!(counts.get("PutMetricAlarm"), Some(&2), "{counts:?}");
    let latency = &f.alarms(&prefix).await[&format!("{prefix}gpu-model-latency")];
    assert_eq!(latency["threshold"], json!(900_000.0));

    // An update that drops the GPU variant deletes exactly its alarms.
    let cpu_only = f
        .config(vec![variant("cpu", &model, "ml.m5.xlarge", 2)])
        .await;
    f.sagemaker
        .update_endpoint()
        .endpoint_name(&ep)
        .endpoint_config_name(&cpu_only)
        .send()
        .await
        .expect("UpdateEndpoint");
    f.calls.reset();
    f.run(in_service.clone()).await;
    let after_update = f.alarms(&prefix).await;
    let mut want_cpu: Vec<String> = PER_CPU_VARIANT
        .iter()
        .map(|s| format!("{prefix}cpu-{s}"))
        .collect();
    want_cpu.push(neighbour.clone());
    want_cpu.sort();
    assert_eq!(after_update.keys().cloned().collect::<Vec<_>>(), want_cpu);
    let counts = f.calls.counts();
    assert_eq!(counts.get("DeleteAlarms"), Some(&1), "{counts:?}");
    // The event's 800 ms again: the cpu variant's model-latency alarm only.
    assert_eq!(counts.get("PutMetricAlarm"), Some(&1), "{counts:?}");

    // Deleting removes the rest; the neighbour and the team's alarm stay.
    f.calls.reset();
    f.run(state_change("endpoint-state-change-deleting.json", &ep))
        .await;
    assert_eq!(
        f.alarms(&prefix).await.keys().cloned().collect::<Vec<_>>(),
        vec![neighbour]
    );
    assert_eq!(f.alarms("team-alarm-").await.len(), 1);
    let counts = f.calls.counts();
    assert_eq!(
        counts.get("DescribeEndpoint"),
        None,
        "Deleting needs no Describe: {counts:?}"
    );
    assert_eq!(counts.get("DeleteAlarms"), Some(&1), "{counts:?}");
}

#[tokio::test]
async fn alarms_off_tag_creates_nothing() {
    let f = fixture(|_| {}).await;
    let model = f.model().await;
    let cfg = f
        .config(vec![variant("cpu", &model, "ml.m5.xlarge", 1)])
        .await;
    let ep = f.endpoint(&cfg, &[]).await;
    let mut event = state_change("endpoint-state-change-in-service-2-variants.json", &ep);
    event["detail"]["Tags"] = json!({"sagewatch:alarms": "off"});
    f.run(event).await;
    assert!(f
        .alarms(&format!("sagewatch-endpoint-{ep}-"))
        .await
        .is_empty());
    assert_eq!(f.calls.total(), 0, "{:?}", f.calls.counts());
}

#[tokio::test]
async fn idle_endpoints_are_reported_once_and_only_the_tagged_one_deleted() {
    // A look-back of a few seconds stands in for 24 h: the emulator's endpoints are created now.
    let f = fixture(|c| {
        c.lookback = chrono::Duration::seconds(3);
        c.dry_run = false;
        c.prices = [("ml.m5.large".to_owned(), 0.115)].into();
    })
    .await;
    let model = f.model().await;
    let cfg = f
        .config(vec![variant("AllTraffic", &model, "ml.m5.large", 2)])
        .await;
    let busy = f
        .endpoint(&cfg, &[("sagewatch:idle-action", "delete")])
        .await;
    let idle = f.endpoint(&cfg, &[]).await;
    let doomed = f
        .endpoint(&cfg, &[("sagewatch:idle-action", "delete")])
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    f.cloudwatch
        .put_metric_data()
        .namespace("AWS/SageMaker")
        .metric_data(
            cw::types::MetricDatum::builder()
                .metric_name("Invocations")
                .dimensions(
                    cw::types::Dimension::builder()
                        .name("EndpointName")
                        .value(&busy)
                        .build(),
                )
                .dimensions(
                    cw::types::Dimension::builder()
                        .name("VariantName")
                        .value("AllTraffic")
                        .build(),
                )
                .value(12.0)
                .timestamp(cw::primitives::DateTime::from_secs(
                    chrono::Utc::now().timestamp() - 1,
                ))
                .build(),
        )
        .send()
        .await
        .expect("PutMetricData");

    let Summary::Idle(run) = f.run(sample("endpoint-guard-idle-check.json")).await else {
        panic!("not an idle run");
    };
    let found: BTreeMap<&str, Action> = run
        .idle
        .iter()
        .map(|e| (e.endpoint.as_str(), e.action))
        .collect();
    assert_eq!(found.get(idle.as_str()), Some(&Action::Report), "{found:?}");
    assert_eq!(
        found.get(doomed.as_str()),
        Some(&Action::Deleted),
        "{found:?}"
    );
    assert!(!found.contains_key(busy.as_str()), "{found:?}");
    let counts = f.calls.counts();
    assert_eq!(counts.get("GetMetricData"), Some(&1), "{counts:?}");
    assert_eq!(run.metric_calls, 1);
    assert_eq!(counts.get("DeleteEndpoint"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("Publish"), Some(&1), "{counts:?}");
    // The tagged endpoint is gone, the others stay.
    for (ep, exists) in [(&busy, true), (&idle, true), (&doomed, false)] {
        let r = f
            .sagemaker
            .describe_endpoint()
            .endpoint_name(ep)
            .send()
            .await;
        assert_eq!(r.is_ok(), exists, "{ep}");
    }
    // EMF: one idle_endpoint line per idle endpoint, with the metrics.
    let lines = f.guard.sink.json();
    let mine: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["sagewatch_event"] == "idle_endpoint"
                && (l["endpoint"] == json!(idle) || l["endpoint"] == json!(doomed))
        })
        .collect();
    assert_eq!(mine.len(), 2, "{lines:?}");
    for l in &mine {
        assert_eq!(l["IdleEndpoints"], json!(1.0));
        assert_eq!(l["InstanceType"], json!("ml.m5.large"));
        assert!(l["IdleInstanceHours"].as_f64().unwrap() > 0.0);
        assert!(
            sagewatch::emf::spec::validate(&serde_json::to_string(l).unwrap()).is_ok(),
            "{l}"
        );
    }
    // The digest: one message, listing both, with the recreate command for the deleted one.
    let got = f.inbox.drain().await;
    assert_eq!(got.len(), 1, "{got:?}");
    let text = got[0].body.to_string();
    assert!(text.contains(&idle) && text.contains(&doomed), "{text}");
    assert!(text.contains("aws sagemaker create-endpoint"), "{text}");

    // A duplicate run deletes nothing more (the deleted endpoint is no longer InService).
    f.calls.reset();
    let Summary::Idle(again) = f.run(sample("endpoint-guard-idle-check.json")).await else {
        panic!("not an idle run");
    };
    assert!(again.idle.iter().all(|e| e.endpoint != doomed));
    assert_eq!(f.calls.counts().get("DeleteEndpoint"), None);
}
