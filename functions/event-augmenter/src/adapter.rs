//! The ports with the AWS SDK: DynamoDB conditional PutItem, CloudWatch GetMetricData and
//! ListMetrics.

use crate::ports::{
    Claimed, DedupeClaim, DedupeStore, HostDiscovery, HostMetrics, MetricRequest, MetricValues,
};
use chrono::Utc;
use cw::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use ddb::types::AttributeValue;
use sagewatch::aws_sdk_cloudwatch as cw;
use sagewatch::aws_sdk_dynamodb as ddb;
use sagewatch::aws_smithy_types::DateTime as SmithyTime;
use sagewatch::error::{classify, AwsError, Retry};
use sagewatch::tracing::warn;

/// GetMetricData takes at most 500 queries per call.
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// Pagination guards: a misbehaving endpoint must not keep the function looping.
const MAX_PAGES_PER_CALL: usize = 100;
const MAX_LIST_PAGES: usize = 20;

pub struct DynamoDedupe {
    client: ddb::Client,
    table: String,
}

impl DynamoDedupe {
    pub fn new(client: ddb::Client, table: impl Into<String>) -> Self {
        DynamoDedupe {
            client,
            table: table.into(),
        }
    }
}

impl DedupeStore for DynamoDedupe {
    async fn claim(&self, claim: &DedupeClaim) -> Result<Claimed, AwsError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(claim.key.clone()))
            .item(
                "expires_at",
                AttributeValue::N(claim.expires_at.to_string()),
            )
            .item("claimed_at", AttributeValue::S(Utc::now().to_rfc3339()))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(id) = &claim.event_id {
            put = put.item("event_id", AttributeValue::S(id.clone()));
        }
        match put.send().await {
            Ok(_) => Ok(Claimed::First),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(Claimed::Duplicate)
            }
            Err(e) => Err(classify("PutItem", &e)),
        }
    }
}

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
        .stat(q.stat.as_str())
        .build();
    MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(stat)
        .return_data(true)
        .set_account_id(q.account_id.clone())
        .build()
}

fn too_many_pages(operation: &'static str) -> AwsError {
    AwsError {
        operation,
        code: "TooManyPages".into(),
        message: "pagination did not end; giving up".into(),
        status: None,
        retry: Retry::Permanent,
    }
}

impl HostMetrics for CloudWatchMetrics {
    /// One call per 500 queries, each followed through NextToken.
    async fn fetch(&self, request: &MetricRequest) -> Result<MetricValues, AwsError> {
        let mut values = MetricValues::new();
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
                    .map_err(|e| classify("GetMetricData", &e))?;
                for r in out.metric_data_results() {
                    let Some(id) = r.id() else { continue };
                    if let Some(cw::types::StatusCode::InternalError) = r.status_code() {
                        warn!(id, messages = ?r.messages(), "GetMetricData result has an internal error");
                    }
                    values
                        .entry(id.to_owned())
                        .or_default()
                        .extend_from_slice(r.values());
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => next_token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(values)
    }

    async fn discover_hosts(&self, request: &HostDiscovery) -> Result<Vec<String>, AwsError> {
        let prefix = format!("{}/", request.job_name);
        let mut hosts = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut call = self
                .client
                .list_metrics()
                .namespace(&request.namespace)
                .metric_name(&request.metric_name)
                .set_next_token(next_token.take());
            if let Some(account) = &request.account_id {
                call = call.include_linked_accounts(true).owning_account(account);
            }
            let out = call.send().await.map_err(|e| classify("ListMetrics", &e))?;
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
                    hosts.sort();
                    hosts.dedup();
                    return Ok(hosts);
                }
            }
        }
        // A very busy namespace: keep what the pages so far found rather than nothing.
        warn!(job = %request.job_name, pages = MAX_LIST_PAGES, "ListMetrics still paging; host list may be incomplete");
        hosts.sort();
        hosts.dedup();
        Ok(hosts)
    }
}
