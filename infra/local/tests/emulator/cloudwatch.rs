use std::collections::BTreeMap;

use aws_sdk_cloudwatch as cw;
use aws_sdk_cloudwatch::operation::set_alarm_state::SetAlarmStateError;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, DimensionFilter, Metric, MetricDataQuery, MetricDatum,
    MetricStat, ScanBy, StandardUnit, StateValue, Statistic,
};
use aws_smithy_types::DateTime;
use sagewatch_emulator::{unique_name, Emulator};

const NS: &str = "/aws/sagemaker/TrainingJobs";

async fn client() -> cw::Client {
    cw::Client::new(&Emulator::shared().await.sdk_config().await)
}

/// Start of a window, minute-aligned, a few minutes in the past.
fn window_start() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    now - now % 60 - 600
}

fn host(job: &str, n: u8) -> Dimension {
    Dimension::builder()
        .name("Host")
        .value(format!("{job}/algo-{n}"))
        .build()
}

fn datum(job: &str, n: u8, at: i64, value: f64) -> MetricDatum {
    MetricDatum::builder()
        .metric_name("CPUUtilization")
        .dimensions(host(job, n))
        .timestamp(DateTime::from_secs(at))
        .value(value)
        .unit(StandardUnit::Percent)
        .build()
}

fn query(id: &str, job: &str, n: u8, stat: &str) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(NS)
        .metric_name("CPUUtilization")
        .dimensions(host(job, n))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat(stat)
                .build(),
        )
        .build()
}

/// algo-1: 10 and 30 in minute 1, 50 in minute 2; algo-2: 5 and 7 in minute 1.
async fn seed_two_hosts(client: &cw::Client, job: &str, t0: i64) {
    for (n, data) in [
        (1, vec![(t0 + 60, 10.0), (t0 + 70, 30.0), (t0 + 120, 50.0)]),
        (2, vec![(t0 + 60, 5.0), (t0 + 75, 7.0)]),
    ] {
        let mut req = client.put_metric_data().namespace(NS);
        for (at, v) in data {
            req = req.metric_data(datum(job, n, at, v));
        }
        req.send().await.expect("PutMetricData");
    }
}

type Series = BTreeMap<String, Vec<(i64, f64)>>;

fn series(results: &[cw::types::MetricDataResult], into: &mut Series) {
    for r in results {
        let points = into
            .entry(r.id().unwrap_or_default().to_owned())
            .or_default();
        points.extend(
            r.timestamps()
                .iter()
                .map(|t| t.secs())
                .zip(r.values().iter().copied()),
        );
    }
}

#[tokio::test]
async fn get_metric_data_returns_seeded_values_for_several_queries() {
    let client = client().await;
    let job = unique_name("cw-job");
    let t0 = window_start();
    seed_two_hosts(&client, &job, t0).await;
    // Same metric and dimensions in another namespace must not leak into the results.
    client
        .put_metric_data()
        .namespace("SageWatch/Other")
        .metric_data(datum(&job, 1, t0 + 60, 1000.0))
        .send()
        .await
        .expect("PutMetricData other namespace");

    let out = client
        .get_metric_data()
        .metric_data_queries(query("a1avg", &job, 1, "Average"))
        .metric_data_queries(query("a1max", &job, 1, "Maximum"))
        .metric_data_queries(query("a2avg", &job, 2, "Average"))
        .metric_data_queries(query("a2max", &job, 2, "Maximum"))
        .metric_data_queries(query("a1sum", &job, 1, "Sum"))
        .start_time(DateTime::from_secs(t0))
        .end_time(DateTime::from_secs(t0 + 300))
        .scan_by(ScanBy::TimestampAscending)
        .send()
        .await
        .expect("GetMetricData");
    let mut got = Series::new();
    series(out.metric_data_results(), &mut got);
    let expected: Series = [
        ("a1avg", vec![(t0 + 60, 20.0), (t0 + 120, 50.0)]),
        ("a1max", vec![(t0 + 60, 30.0), (t0 + 120, 50.0)]),
        ("a1sum", vec![(t0 + 60, 40.0), (t0 + 120, 50.0)]),
        ("a2avg", vec![(t0 + 60, 6.0)]),
        ("a2max", vec![(t0 + 60, 7.0)]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, expected);
    assert_eq!(out.next_token(), None);
}

#[tokio::test]
async fn get_metric_data_paginates_with_next_token() {
    let client = client().await;
    let job = unique_name("cw-page");
    let t0 = window_start();
    seed_two_hosts(&client, &job, t0).await;

    let mut pages = client
        .get_metric_data()
        .metric_data_queries(query("a1avg", &job, 1, "Average"))
        .metric_data_queries(query("a2max", &job, 2, "Maximum"))
        .metric_data_queries(query("a1max", &job, 1, "Maximum"))
        .start_time(DateTime::from_secs(t0))
        .end_time(DateTime::from_secs(t0 + 300))
        .scan_by(ScanBy::TimestampAscending)
        .max_datapoints(2)
        .into_paginator()
        .send();
    let mut got = Series::new();
    let mut n_pages = 0;
    while let Some(page) = pages.next().await {
        let page = page.expect("GetMetricData page");
        n_pages += 1;
        series(page.metric_data_results(), &mut got);
    }
    assert_eq!(n_pages, 3, "5 datapoints, 2 per page");
    assert_eq!(got["a1avg"], vec![(t0 + 60, 20.0), (t0 + 120, 50.0)]);
    assert_eq!(got["a2max"], vec![(t0 + 60, 7.0)]);
    assert_eq!(got["a1max"], vec![(t0 + 60, 30.0), (t0 + 120, 50.0)]);
}

#[tokio::test]
async fn list_metrics_filters_by_dimension() {
    let client = client().await;
    let job = unique_name("cw-list");
    seed_two_hosts(&client, &job, window_start()).await;
    let out = client
        .list_metrics()
        .namespace(NS)
        .dimensions(
            DimensionFilter::builder()
                .name("Host")
                .value(format!("{job}/algo-2"))
                .build(),
        )
        .send()
        .await
        .expect("ListMetrics");
    let hosts: Vec<&str> = out
        .metrics()
        .iter()
        .flat_map(|m| m.dimensions())
        .filter_map(|d| d.value())
        .collect();
    assert_eq!(hosts, vec![format!("{job}/algo-2")]);
    assert_eq!(out.metrics()[0].metric_name(), Some("CPUUtilization"));
}

#[tokio::test]
async fn get_metric_statistics_aggregates_a_period() {
    let client = client().await;
    let job = unique_name("cw-stats");
    let t0 = window_start();
    seed_two_hosts(&client, &job, t0).await;
    let out = client
        .get_metric_statistics()
        .namespace(NS)
        .metric_name("CPUUtilization")
        .dimensions(host(&job, 1))
        .start_time(DateTime::from_secs(t0))
        .end_time(DateTime::from_secs(t0 + 600))
        .period(600)
        .statistics(Statistic::Average)
        .statistics(Statistic::Maximum)
        .statistics(Statistic::SampleCount)
        .send()
        .await
        .expect("GetMetricStatistics");
    let [point] = out.datapoints() else {
        panic!("one datapoint expected: {:?}", out.datapoints());
    };
    assert_eq!(point.average(), Some(30.0));
    assert_eq!(point.maximum(), Some(50.0));
    assert_eq!(point.sample_count(), Some(3.0));
}

#[tokio::test]
async fn alarm_lifecycle_and_typed_errors() {
    let client = client().await;
    let job = unique_name("cw-alarm");
    let alarm = format!("sagewatch-{job}-cpu");
    client
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace(NS)
        .metric_name("CPUUtilization")
        .dimensions(host(&job, 1))
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(3)
        .threshold(95.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .alarm_actions("arn:aws:sns:us-east-1:123456789012:sagewatch-alerts")
        .send()
        .await
        .expect("PutMetricAlarm");

    let describe = |state: Option<StateValue>| {
        let client = client.clone();
        let alarm = alarm.clone();
        async move {
            let out = client
                .describe_alarms()
                .alarm_names(&alarm)
                .send()
                .await
                .expect("DescribeAlarms");
            assert_eq!(out.metric_alarms().len(), usize::from(state.is_some()));
            if let Some(state) = state {
                let a = &out.metric_alarms()[0];
                assert_eq!(a.alarm_name(), Some(alarm.as_str()));
                assert_eq!(a.state_value(), Some(&state));
                assert_eq!(a.threshold(), Some(95.0));
                assert_eq!(a.evaluation_periods(), Some(3));
                assert!(a.state_updated_timestamp().is_some());
            }
        }
    };
    describe(Some(StateValue::InsufficientData)).await;

    client
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .expect("SetAlarmState");
    describe(Some(StateValue::Alarm)).await;

    client
        .delete_alarms()
        .alarm_names(&alarm)
        .send()
        .await
        .expect("DeleteAlarms");
    describe(None).await;

    let err = client
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(StateValue::Ok)
        .state_reason("gone")
        .send()
        .await
        .expect_err("deleted alarm")
        .into_service_error();
    assert!(
        matches!(err, SetAlarmStateError::ResourceNotFound(_)),
        "{err:?}"
    );
}

/// Bodies over 10 KiB are gzipped by the SDK (PutMetricData has @requestCompression).
#[tokio::test]
async fn large_put_metric_data_is_accepted_compressed() {
    let client = client().await;
    let job = unique_name("cw-gzip");
    let t0 = window_start();
    let mut req = client.put_metric_data().namespace(NS);
    for i in 0..600_i32 {
        req = req.metric_data(datum(
            &job,
            1,
            t0 + 60 + i64::from(i % 60),
            f64::from(i % 10),
        ));
    }
    req.send().await.expect("PutMetricData (compressed)");
    let out = client
        .get_metric_statistics()
        .namespace(NS)
        .metric_name("CPUUtilization")
        .dimensions(host(&job, 1))
        .start_time(DateTime::from_secs(t0))
        .end_time(DateTime::from_secs(t0 + 600))
        .period(600)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .expect("GetMetricStatistics");
    let [point] = out.datapoints() else {
        panic!("one datapoint expected: {:?}", out.datapoints());
    };
    assert_eq!(point.sample_count(), Some(600.0));
    assert_eq!(point.maximum(), Some(9.0));
}
