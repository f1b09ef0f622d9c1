//! The host-metrics port with the AWS SDK: CloudWatch GetMetricData and ListMetrics. (The
//! claim store is the shared DynamoDB adapter, `sagewatch_aws::claims::DynamoClaims`.)

use crate::ports::{
    DiscoveredHosts, HostDiscovery, HostMetrics, MetricRequest, MetricValues, QUERY_STAT,
};
use aws_sdk_cloudwatch as cw;
use aws_smithy_types::DateTime as SmithyTime;
use chrono::Utc;
use cw::operation::get_metric_data::GetMetricDataOutput;
use cw::types::{
    Dimension, MessageData, Metric, MetricDataQuery, MetricStat, RecentlyActive, ScanBy, StatusCode,
};
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch_aws::error::{from_sdk, safe_text};
use tracing::warn;

/// GetMetricData takes at most 500 queries per call.
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// Pagination guards: a misbehaving endpoint must not keep the function looping.
const MAX_PAGES_PER_CALL: usize = 100;
const MAX_LIST_PAGES: usize = 20;

pub struct CloudWatchMetrics {
    client: cw::Client,
}

impl CloudWatchMetrics {
    pub fn new(client: cw::Client) -> Self {
        CloudWatchMetrics { client }
    }
}

fn smithy_time(t: chrono::DateTime<Utc>) -> SmithyTime {
    SmithyTime::from_secs(t.timestamp())
}

fn to_sdk(q: &crate::ports::MetricQuery) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(&q.namespace)
        .metric_name(&q.metric_name)
        .dimensions(Dimension::builder().name("Host").value(&q.host).build())
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(q.period)
        .stat(QUERY_STAT)
        .build();
    MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(stat)
        .return_data(true)
        .set_account_id(q.account_id.clone())
        .build()
}

/// The service kept paging past our guard: retrying would page the same way.
fn too_many_pages(operation: &'static str) -> AwsError {
    AwsError::new(
        operation,
        ErrorKind::Other,
        "TooManyPages",
        "pagination did not end; giving up",
    )
}

fn describe(messages: &[MessageData]) -> String {
    messages
        .iter()
        .map(|m| match (m.code(), m.value()) {
            (Some(c), Some(v)) => format!("{c}: {v}"),
            (c, v) => c.or(v).unwrap_or("").to_owned(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Merges one GetMetricData page into `values`, by each result's StatusCode:
/// - `Complete`, `PartialData`: datapoints kept (`PartialData` means more pages follow via
///   NextToken, which the caller follows);
/// - `Forbidden` (e.g. another account's metrics without an OAM link): the series is refused,
///   kept with CloudWatch's message so the report says why it is missing;
/// - `InternalError`: a retryable error. Counting the job without those series would report
///   them missing forever; the SQS message comes back instead.
///
/// The page's top-level Messages (e.g. "Maximum number of allowed metrics exceeded") are logged.
pub fn absorb_page(out: &GetMetricDataOutput, values: &mut MetricValues) -> Result<(), AwsError> {
    if !out.messages().is_empty() {
        warn!(messages = %describe(out.messages()), "GetMetricData returned messages");
    }
    for r in out.metric_data_results() {
        let Some(id) = r.id() else { continue };
        match r.status_code() {
            Some(StatusCode::InternalError) => {
                return Err(AwsError::new(
                    "GetMetricData",
                    ErrorKind::Unavailable,
                    "InternalError",
                    safe_text(&format!("query {id}: {}", describe(r.messages()))),
                ))
            }
            Some(StatusCode::Forbidden) => {
                let why = safe_text(&describe(r.messages()));
                warn!(id, messages = %why, "GetMetricData refused a series (Forbidden)");
                values.forbidden.insert(
                    id.to_owned(),
                    if why.is_empty() {
                        "Forbidden".into()
                    } else {
                        why
                    },
                );
            }
            _ => values
                .series
                .entry(id.to_owned())
                .or_default()
                .extend_from_slice(r.values()),
        }
    }
    Ok(())
}

impl HostMetrics for CloudWatchMetrics {
    /// One call per 500 queries, each followed through NextToken.
    async fn fetch(&self, request: &MetricRequest) -> Result<MetricValues, AwsError> {
        let mut values = MetricValues::default();
        for chunk in request.queries.chunks(MAX_QUERIES_PER_CALL) {
            let queries: Vec<MetricDataQuery> = chunk.iter().map(to_sdk).collect();
            let mut next_token: Option<String> = None;
            let mut pages = 0;
            loop {
                pages += 1;
                if pages > MAX_PAGES_PER_CALL {
                    return Err(too_many_pages("GetMetricData"));
                }
                let out = self
                    .client
                    .get_metric_data()
                    .set_metric_data_queries(Some(queries.clone()))
                    .start_time(smithy_time(request.start))
                    .end_time(smithy_time(request.end))
                    .scan_by(ScanBy::TimestampAscending)
                    .set_next_token(next_token.take())
                    .send()
                    .await
                    .map_err(|e| from_sdk("GetMetricData", &e))?;
                absorb_page(&out, &mut values)?;
                match out.next_token() {
                    Some(t) if !t.is_empty() => next_token = Some(t.to_owned()),
                    _ => {
                        if out
                            .metric_data_results()
                            .iter()
                            .any(|r| r.status_code() == Some(&StatusCode::PartialData))
                        {
                            warn!("GetMetricData said PartialData without a NextToken");
                        }
                        break;
                    }
                }
            }
        }
        Ok(values)
    }

    async fn discover_hosts(&self, request: &HostDiscovery) -> Result<DiscoveredHosts, AwsError> {
        let prefix = format!("{}/", request.job_name);
        let mut hosts = Vec::new();
        let mut next_token: Option<String> = None;
        let mut truncated = true;
        for _ in 0..MAX_LIST_PAGES {
            let mut call = self
                .client
                .list_metrics()
                .namespace(&request.namespace)
                .metric_name(&request.metric_name)
                .set_next_token(next_token.take());
            if request.recently_active {
                call = call.recently_active(RecentlyActive::Pt3H);
            }
            if let Some(account) = &request.account_id {
                call = call.include_linked_accounts(true).owning_account(account);
            }
            let out = call.send().await.map_err(|e| from_sdk("ListMetrics", &e))?;
            hosts.extend(
                out.metrics()
                    .iter()
                    .flat_map(|m| m.dimensions())
                    .filter(|d| d.name() == Some("Host"))
                    .filter_map(|d| d.value())
                    .filter(|v| v.starts_with(&prefix))
                    .map(str::to_owned),
            );
            match out.next_token() {
                Some(t) if !t.is_empty() => next_token = Some(t.to_owned()),
                _ => {
                    truncated = false;
                    break;
                }
            }
        }
        if truncated {
            // A very busy namespace: keep what the pages so far found rather than nothing.
            warn!(job = %request.job_name, pages = MAX_LIST_PAGES, "ListMetrics still paging; host list may be incomplete");
        }
        hosts.sort();
        hosts.dedup();
        Ok(DiscoveredHosts { hosts, truncated })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cw::types::MetricDataResult;

    fn result(id: &str, status: StatusCode, values: &[f64]) -> MetricDataResult {
        MetricDataResult::builder()
            .id(id)
            .status_code(status)
            .set_values(Some(values.to_vec()))
            .messages(
                MessageData::builder()
                    .code("C")
                    .value(format!("about {id}"))
                    .build(),
            )
            .build()
    }

    #[test]
    fn status_codes_decide_what_a_series_is() {
        let page = GetMetricDataOutput::builder()
            .metric_data_results(result("h0_m0", StatusCode::Complete, &[1.0, 2.0]))
            .metric_data_results(result("h0_m1", StatusCode::PartialData, &[3.0]))
            .metric_data_results(result("h1_m0", StatusCode::Forbidden, &[]))
            .messages(
                MessageData::builder()
                    .code("Warn")
                    .value("top level")
                    .build(),
            )
            .build();
        let mut values = MetricValues::default();
        absorb_page(&page, &mut values).expect("no internal error");
        // A second page of the partial series extends it.
        let next = GetMetricDataOutput::builder()
            .metric_data_results(result("h0_m1", StatusCode::Complete, &[4.0]))
            .build();
        absorb_page(&next, &mut values).expect("page 2");
        assert_eq!(values.series["h0_m0"], vec![1.0, 2.0]);
        assert_eq!(values.series["h0_m1"], vec![3.0, 4.0]);
        assert!(!values.series.contains_key("h1_m0"));
        assert_eq!(values.forbidden["h1_m0"], "C: about h1_m0");

        let broken = GetMetricDataOutput::builder()
            .metric_data_results(result("h0_m0", StatusCode::Complete, &[1.0]))
            .metric_data_results(result("h0_m2", StatusCode::InternalError, &[]))
            .build();
        let e = absorb_page(&broken, &mut MetricValues::default()).expect_err("internal error");
        assert!(e.is_retryable(), "{e}");
        assert_eq!(e.code, "InternalError");
        assert!(e.message.contains("h0_m2"), "{e}");
    }
}
