//! The ports with the AWS SDK: SageMaker (DescribeEndpoint, DescribeEndpointConfig,
//! ListEndpoints, ListTags, DeleteEndpoint) and CloudWatch (DescribeAlarms, PutMetricAlarm,
//! DeleteAlarms, GetMetricData). Errors via `from_sdk`; decisions on the kind.

use crate::alarms::{Alarm, AlarmMetric, MetricRef, Statistic, Variant, RATE_EXPRESSION};
use crate::ports::{
    Alarms, DeleteOutcome, EndpointSummary, EndpointView, Endpoints, ExistingAlarm, Metrics, Series,
};
use aws_sdk_cloudwatch as cw;
use aws_sdk_sagemaker as sm;
use chrono::{DateTime, Utc};
use sagewatch::error::found;
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch_aws::error::from_sdk;
use std::collections::{BTreeMap, HashMap};

fn to_chrono(t: Option<&sm::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

pub struct SageMakerEndpoints {
    client: sm::Client,
}

impl SageMakerEndpoints {
    pub fn new(client: sm::Client) -> Self {
        SageMakerEndpoints { client }
    }
}

impl Endpoints for SageMakerEndpoints {
    async fn describe(&self, name: &str) -> Result<Option<EndpointView>, AwsError> {
        let out = self
            .client
            .describe_endpoint()
            .endpoint_name(name)
            .send()
            .await
            .map_err(|e| from_sdk("DescribeEndpoint", &e));
        let Some(ep) = found(out)? else {
            return Ok(None);
        };
        // Instance types are in the endpoint config only.
        let mut types: HashMap<String, (Option<String>, i32, bool)> = HashMap::new();
        if let Some(config) = ep.endpoint_config_name() {
            match self
                .client
                .describe_endpoint_config()
                .endpoint_config_name(config)
                .send()
                .await
            {
                Ok(c) => {
                    for v in c.production_variants() {
                        let Some(name) = v.variant_name() else {
                            continue;
                        };
                        types.insert(
                            name.to_owned(),
                            (
                                v.instance_type().map(|t| t.as_str().to_owned()),
                                v.initial_instance_count().unwrap_or(0),
                                v.serverless_config().is_some(),
                            ),
                        );
                    }
                }
                // A config deleted after the endpoint was created: variants without types
                // (their scaled alarms are skipped and reported).
                Err(e) => {
                    let err = from_sdk("DescribeEndpointConfig", &e);
                    if err.kind != ErrorKind::NotFound {
                        return Err(err);
                    }
                }
            }
        }
        let variants = ep
            .production_variants()
            .iter()
            .filter_map(|v| {
                let name = v.variant_name()?.to_owned();
                let (instance_type, initial, serverless_cfg) =
                    types.get(&name).cloned().unwrap_or((None, 0, false));
                let serverless = serverless_cfg || v.current_serverless_config().is_some();
                Some(Variant {
                    instance_count: v
                        .current_instance_count()
                        .or(v.desired_instance_count())
                        .unwrap_or(initial),
                    instance_type: if serverless { None } else { instance_type },
                    serverless,
                    name,
                })
            })
            .collect();
        Ok(Some(EndpointView {
            name: ep.endpoint_name().unwrap_or(name).to_owned(),
            arn: ep.endpoint_arn().map(str::to_owned),
            config_name: ep.endpoint_config_name().map(str::to_owned),
            status: sagewatch::status::Status::new(
                ep.endpoint_status()
                    .map(|s| s.as_str())
                    .unwrap_or("Unknown"),
            )
            .as_str()
            .to_owned(),
            creation_time: to_chrono(ep.creation_time()),
            variants,
        }))
    }

    async fn list_in_service(&self) -> Result<Vec<EndpointSummary>, AwsError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_endpoints()
                .status_equals(sm::types::EndpointStatus::InService)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk("ListEndpoints", &e))?;
            out.extend(page.endpoints().iter().filter_map(|e| {
                Some(EndpointSummary {
                    name: e.endpoint_name()?.to_owned(),
                    arn: e.endpoint_arn().map(str::to_owned),
                    creation_time: to_chrono(e.creation_time()),
                    last_modified_time: to_chrono(e.last_modified_time()),
                })
            }));
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let mut out = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_tags()
                .resource_arn(arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk("ListTags", &e))?;
            out.extend(
                page.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned()))),
            );
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn delete(&self, name: &str) -> Result<DeleteOutcome, AwsError> {
        match self
            .client
            .delete_endpoint()
            .endpoint_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(DeleteOutcome::Deleting),
            Err(e) => {
                let err = from_sdk("DeleteEndpoint", &e);
                match err.kind {
                    ErrorKind::NotFound | ErrorKind::InvalidState => {
                        Ok(DeleteOutcome::AlreadyGone(err.message))
                    }
                    _ => Err(err),
                }
            }
        }
    }
}

pub struct CloudWatch {
    client: cw::Client,
}

impl CloudWatch {
    pub fn new(client: cw::Client) -> Self {
        CloudWatch { client }
    }
}

fn dimensions(m: &MetricRef) -> Vec<cw::types::Dimension> {
    m.dimensions
        .iter()
        .map(|(k, v)| cw::types::Dimension::builder().name(k).value(v).build())
        .collect()
}

fn metric(m: &MetricRef) -> cw::types::Metric {
    cw::types::Metric::builder()
        .namespace(&m.namespace)
        .metric_name(&m.metric)
        .set_dimensions(Some(dimensions(m)))
        .build()
}

fn endpoint_dims(dims: &[cw::types::Dimension]) -> impl Iterator<Item = String> + '_ {
    dims.iter()
        .filter(|d| d.name() == Some("EndpointName"))
        .filter_map(|d| d.value().map(str::to_owned))
}

fn metric_ref(m: &cw::types::Metric) -> Option<MetricRef> {
    Some(MetricRef {
        namespace: m.namespace()?.to_owned(),
        metric: m.metric_name()?.to_owned(),
        dimensions: m
            .dimensions()
            .iter()
            .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
            .collect(),
    })
}

/// A DescribeAlarms answer as the [`Alarm`] it would be, if it has one of our two shapes.
fn read_back(a: &cw::types::MetricAlarm) -> Option<Alarm> {
    let (metric, period) = if a.metrics().is_empty() {
        let statistic = match (a.statistic(), a.extended_statistic()) {
            (Some(s), _) => Statistic::Simple(s.as_str().to_owned()),
            (None, Some(e)) => Statistic::Extended(e.to_owned()),
            (None, None) => return None,
        };
        let metric = MetricRef {
            namespace: a.namespace()?.to_owned(),
            metric: a.metric_name()?.to_owned(),
            dimensions: a
                .dimensions()
                .iter()
                .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
                .collect(),
        };
        (AlarmMetric::Single { metric, statistic }, a.period()?)
    } else {
        let stat_of = |id: &str| {
            a.metrics()
                .iter()
                .find(|q| q.id() == Some(id))
                .and_then(|q| q.metric_stat())
        };
        let (m1, m2) = (stat_of("m1")?, stat_of("m2")?);
        let expression = a
            .metrics()
            .iter()
            .find(|q| q.id() == Some("e1"))?
            .expression();
        if expression != Some(RATE_EXPRESSION) {
            return None;
        }
        let rate = AlarmMetric::Rate {
            errors: metric_ref(m1.metric()?)?,
            invocations: metric_ref(m2.metric()?)?,
        };
        (rate, m1.period()?)
    };
    Some(
        Alarm {
            name: a.alarm_name()?.to_owned(),
            description: a.alarm_description().unwrap_or_default().to_owned(),
            metric,
            period,
            evaluation_periods: a.evaluation_periods()?,
            datapoints_to_alarm: a.datapoints_to_alarm().or(a.evaluation_periods())?,
            threshold: a.threshold()?,
            comparison: a.comparison_operator()?.as_str().to_owned(),
            treat_missing_data: a.treat_missing_data().unwrap_or("missing").to_owned(),
        }
        .normalized(),
    )
}

impl Alarms for CloudWatch {
    async fn list(&self, prefix: &str) -> Result<Vec<ExistingAlarm>, AwsError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .describe_alarms()
                .alarm_name_prefix(prefix)
                .alarm_types(cw::types::AlarmType::MetricAlarm)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk("DescribeAlarms", &e))?;
            for a in page.metric_alarms() {
                let Some(name) = a.alarm_name() else { continue };
                let mut endpoints: Vec<String> = endpoint_dims(a.dimensions()).collect();
                for q in a.metrics() {
                    if let Some(m) = q.metric_stat().and_then(|s| s.metric()) {
                        endpoints.extend(endpoint_dims(m.dimensions()));
                    }
                }
                out.push(ExistingAlarm {
                    name: name.to_owned(),
                    endpoints,
                    definition: read_back(a),
                    actions: (a.alarm_actions().to_vec(), a.ok_actions().to_vec()),
                });
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn put(&self, alarm: &Alarm, actions: &[String]) -> Result<(), AwsError> {
        let mut req = self
            .client
            .put_metric_alarm()
            .alarm_name(&alarm.name)
            .alarm_description(&alarm.description)
            .actions_enabled(true)
            .set_alarm_actions(Some(actions.to_vec()))
            .set_ok_actions(Some(actions.to_vec()))
            .evaluation_periods(alarm.evaluation_periods)
            .datapoints_to_alarm(alarm.datapoints_to_alarm)
            .threshold(alarm.threshold)
            .comparison_operator(cw::types::ComparisonOperator::from(
                alarm.comparison.as_str(),
            ))
            .treat_missing_data(&alarm.treat_missing_data);
        req = match &alarm.metric {
            AlarmMetric::Single {
                metric: m,
                statistic,
            } => {
                let req = req
                    .namespace(&m.namespace)
                    .metric_name(&m.metric)
                    .set_dimensions(Some(dimensions(m)))
                    .period(alarm.period);
                match statistic {
                    Statistic::Simple(s) => req.statistic(cw::types::Statistic::from(s.as_str())),
                    Statistic::Extended(s) => req.extended_statistic(s),
                }
            }
            AlarmMetric::Rate {
                errors,
                invocations,
            } => {
                let stat = |id: &str, m: &MetricRef| {
                    cw::types::MetricDataQuery::builder()
                        .id(id)
                        .metric_stat(
                            cw::types::MetricStat::builder()
                                .metric(metric(m))
                                .period(alarm.period)
                                .stat("Sum")
                                .build(),
                        )
                        .return_data(false)
                        .build()
                };
                req.metrics(stat("m1", errors))
                    .metrics(stat("m2", invocations))
                    .metrics(
                        cw::types::MetricDataQuery::builder()
                            .id("e1")
                            .expression(RATE_EXPRESSION)
                            .label("error rate (%)")
                            .return_data(true)
                            .build(),
                    )
            }
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("PutMetricAlarm", &e))
    }

    async fn delete(&self, names: &[String]) -> Result<(), AwsError> {
        for chunk in names.chunks(100) {
            self.client
                .delete_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| from_sdk("DeleteAlarms", &e))?;
        }
        Ok(())
    }
}

impl Metrics for CloudWatch {
    async fn invocation_sums(
        &self,
        series: &[Series],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<HashMap<Series, f64>, AwsError> {
        // One period over the whole look-back: one datapoint (a Sum) per series.
        let seconds = (end - start).num_seconds().max(60);
        let period = i32::try_from(((seconds + 59) / 60) * 60).unwrap_or(i32::MAX);
        let queries: Vec<cw::types::MetricDataQuery> = series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let m = MetricRef {
                    namespace: crate::alarms::INVOCATION_NAMESPACE.into(),
                    metric: "Invocations".into(),
                    dimensions: vec![
                        ("EndpointName".into(), s.endpoint.clone()),
                        ("VariantName".into(), s.variant.clone()),
                    ],
                };
                cw::types::MetricDataQuery::builder()
                    .id(format!("q{i}"))
                    .metric_stat(
                        cw::types::MetricStat::builder()
                            .metric(metric(&m))
                            .period(period)
                            .stat("Sum")
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut sums: HashMap<Series, f64> = series.iter().map(|s| (s.clone(), 0.0)).collect();
        let mut token = None;
        loop {
            // Pages of one request (NextToken) when the answer is large; still one query set.
            let page = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(cw::primitives::DateTime::from_secs(start.timestamp()))
                .end_time(cw::primitives::DateTime::from_secs(end.timestamp()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk("GetMetricData", &e))?;
            for r in page.metric_data_results() {
                let index = r
                    .id()
                    .and_then(|id| id.strip_prefix('q'))
                    .and_then(|n| n.parse::<usize>().ok());
                if let Some(s) = index.and_then(|i| series.get(i)) {
                    *sums.entry(s.clone()).or_default() += r.values().iter().sum::<f64>();
                }
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(sums);
            }
        }
    }
}
