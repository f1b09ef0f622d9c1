//! The ports with the AWS SDK: host metrics (CloudWatch GetMetricData and ListMetrics), and
//! for the sweep SageMaker's List*Jobs / Describe*Job per account ([`SageMakerJobs`]) and
//! the claim table read beside the shared claim store ([`TableClaims`]: the claims are
//! `sagewatch_aws::claims::DynamoClaims`, plus one GetItem).

use crate::ports::{ClaimReader, EventBus, Jobs, ListPage, ListRequest};
use crate::ports::{
    DiscoveredHosts, HostDiscovery, HostMetrics, MetricRequest, MetricValues, QUERY_STAT,
};
use aws_config::SdkConfig;
use aws_sdk_cloudwatch as cw;
use aws_sdk_sagemaker as sm;
use aws_smithy_types::DateTime as SmithyTime;
use chrono::Utc;
use cw::operation::get_metric_data::GetMetricDataOutput;
use cw::types::{
    Dimension, MessageData, Metric, MetricDataQuery, MetricStat, RecentlyActive, ScanBy, StatusCode,
};
use sagewatch::claims::{schema, Claim, ClaimItem, ClaimStore, Claimed};
use sagewatch::error::found;
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::events::JobType;
use sagewatch::status::Status;
use sagewatch::sweep::{JobView, Listed, Reemitted, Resources};
use sagewatch::target::Target;
use sagewatch_aws::claims::{parse_item, DynamoClaims};
use sagewatch_aws::error::{from_sdk, safe_text};
use sagewatch_aws::target::TargetClients;
use sm::types::{SortBy, SortOrder};
use std::collections::BTreeMap;
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

// ---- The sweep's SageMaker calls --------------------------------------------------------

/// List*Jobs and Describe*Job in the job's account and region (another account through the
/// cross-account role, `sagewatch_aws::target::TargetClients`).
pub struct SageMakerJobs {
    clients: TargetClients<sm::Client>,
}

impl SageMakerJobs {
    pub fn new(home: SdkConfig) -> Self {
        let client = sm::Client::new(&home);
        Self::with_client(home, client)
    }

    /// Ready client for the function's own account (tests add a call counter to it).
    pub fn with_client(home: SdkConfig, client: sm::Client) -> Self {
        SageMakerJobs {
            clients: TargetClients::new(home, client, sm::Client::new, "sagewatch-event-augmenter"),
        }
    }
}

fn sm_time(t: Option<&SmithyTime>) -> Option<chrono::DateTime<Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn count(n: Option<i32>) -> Option<u64> {
    n.and_then(|n| u64::try_from(n).ok())
}

fn text(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn listed(name: Option<&str>, status: Option<&str>, modified: Option<&SmithyTime>) -> Listed {
    Listed {
        name: name.unwrap_or_default().to_owned(),
        status: Status::new(status.unwrap_or_default()),
        last_modified: sm_time(modified),
    }
}

impl Jobs for SageMakerJobs {
    /// One page, newest first (`SortBy=CreationTime`, `Descending`), filtered by
    /// `LastModifiedTimeAfter`/`Before`. No `StatusEquals`: SageMaker applies it after
    /// `MaxResults` (ListTrainingJobs API reference), and three end states would take three
    /// listings; the end-state filter is `Listed::candidate`.
    async fn list(&self, target: &Target, request: &ListRequest) -> Result<ListPage, AwsError> {
        let client = self.clients.get(target).await;
        let after = smithy_time(request.window.after);
        let before = smithy_time(request.window.before);
        let max = i32::try_from(request.page_size.clamp(1, 100)).unwrap_or(100);
        let token = request.next_token.clone();
        let (jobs, next) = match request.job_type {
            JobType::Training => {
                let out = client
                    .list_training_jobs()
                    .last_modified_time_after(after)
                    .last_modified_time_before(before)
                    .sort_by(SortBy::CreationTime)
                    .sort_order(SortOrder::Descending)
                    .max_results(max)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| from_sdk("ListTrainingJobs", &e))?;
                let jobs = out
                    .training_job_summaries()
                    .iter()
                    .map(|j| {
                        listed(
                            j.training_job_name(),
                            j.training_job_status().map(|s| s.as_str()),
                            j.last_modified_time(),
                        )
                    })
                    .collect();
                (jobs, out.next_token().map(str::to_owned))
            }
            JobType::Processing => {
                let out = client
                    .list_processing_jobs()
                    .last_modified_time_after(after)
                    .last_modified_time_before(before)
                    .sort_by(SortBy::CreationTime)
                    .sort_order(SortOrder::Descending)
                    .max_results(max)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| from_sdk("ListProcessingJobs", &e))?;
                let jobs = out
                    .processing_job_summaries()
                    .iter()
                    .map(|j| {
                        listed(
                            j.processing_job_name(),
                            j.processing_job_status().map(|s| s.as_str()),
                            j.last_modified_time(),
                        )
                    })
                    .collect();
                (jobs, out.next_token().map(str::to_owned))
            }
            JobType::Transform => {
                let out = client
                    .list_transform_jobs()
                    .last_modified_time_after(after)
                    .last_modified_time_before(before)
                    .sort_by(SortBy::CreationTime)
                    .sort_order(SortOrder::Descending)
                    .max_results(max)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| from_sdk("ListTransformJobs", &e))?;
                let jobs = out
                    .transform_job_summaries()
                    .iter()
                    .map(|j| {
                        listed(
                            j.transform_job_name(),
                            j.transform_job_status().map(|s| s.as_str()),
                            j.last_modified_time(),
                        )
                    })
                    .collect();
                (jobs, out.next_token().map(str::to_owned))
            }
        };
        Ok(ListPage {
            jobs,
            next_token: next.filter(|t| !t.is_empty()),
        })
    }

    async fn describe(
        &self,
        target: &Target,
        job_type: JobType,
        name: &str,
    ) -> Result<Option<JobView>, AwsError> {
        let client = self.clients.get(target).await;
        let base = |status: Option<&str>| JobView {
            job_type,
            name: name.to_owned(),
            arn: None,
            status: Status::new(status.unwrap_or_default()),
            failure_reason: None,
            exit_message: None,
            resources: Resources::default(),
            creation_time: None,
            start_time: None,
            end_time: None,
            last_modified_time: None,
            billable_seconds: None,
            secondary_status: None,
            tags: BTreeMap::new(),
        };
        Ok(match job_type {
            JobType::Training => {
                let out = client
                    .describe_training_job()
                    .training_job_name(name)
                    .send()
                    .await
                    .map_err(|e| from_sdk("DescribeTrainingJob", &e));
                found(out)?.map(|j| {
                    let rc = j.resource_config();
                    JobView {
                        arn: text(j.training_job_arn()),
                        failure_reason: text(j.failure_reason()),
                        resources: Resources {
                            instance_type: rc
                                .and_then(|r| r.instance_type())
                                .map(|t| t.as_str().to_owned()),
                            instance_count: count(rc.and_then(|r| r.instance_count())),
                            instance_groups: rc
                                .map(|r| r.instance_groups())
                                .unwrap_or_default()
                                .iter()
                                .map(|g| {
                                    (
                                        text(g.instance_group_name()),
                                        g.instance_type().map(|t| t.as_str().to_owned()),
                                        count(g.instance_count()),
                                    )
                                })
                                .collect(),
                        },
                        creation_time: sm_time(j.creation_time()),
                        start_time: sm_time(j.training_start_time()),
                        end_time: sm_time(j.training_end_time()),
                        last_modified_time: sm_time(j.last_modified_time()),
                        billable_seconds: count(j.billable_time_in_seconds()),
                        secondary_status: j.secondary_status().map(|s| Status::new(s.as_str())),
                        ..base(j.training_job_status().map(|s| s.as_str()))
                    }
                })
            }
            JobType::Processing => {
                let out = client
                    .describe_processing_job()
                    .processing_job_name(name)
                    .send()
                    .await
                    .map_err(|e| from_sdk("DescribeProcessingJob", &e));
                found(out)?.map(|j| {
                    let cluster = j.processing_resources().and_then(|r| r.cluster_config());
                    JobView {
                        arn: text(j.processing_job_arn()),
                        failure_reason: text(j.failure_reason()),
                        exit_message: text(j.exit_message()),
                        resources: Resources {
                            instance_type: cluster
                                .and_then(|c| c.instance_type())
                                .map(|t| t.as_str().to_owned()),
                            instance_count: count(cluster.and_then(|c| c.instance_count())),
                            instance_groups: Vec::new(),
                        },
                        creation_time: sm_time(j.creation_time()),
                        start_time: sm_time(j.processing_start_time()),
                        end_time: sm_time(j.processing_end_time()),
                        last_modified_time: sm_time(j.last_modified_time()),
                        ..base(j.processing_job_status().map(|s| s.as_str()))
                    }
                })
            }
            JobType::Transform => {
                let out = client
                    .describe_transform_job()
                    .transform_job_name(name)
                    .send()
                    .await
                    .map_err(|e| from_sdk("DescribeTransformJob", &e));
                found(out)?.map(|j| {
                    let r = j.transform_resources();
                    JobView {
                        arn: text(j.transform_job_arn()),
                        failure_reason: text(j.failure_reason()),
                        resources: Resources {
                            instance_type: r
                                .and_then(|r| r.instance_type())
                                .map(|t| t.as_str().to_owned()),
                            instance_count: count(r.and_then(|r| r.instance_count())),
                            instance_groups: Vec::new(),
                        },
                        creation_time: sm_time(j.creation_time()),
                        start_time: sm_time(j.transform_start_time()),
                        end_time: sm_time(j.transform_end_time()),
                        // DescribeTransformJob has no LastModifiedTime; the sweep takes the
                        // listing's.
                        ..base(j.transform_job_status().map(|s| s.as_str()))
                    }
                })
            }
        })
    }

    async fn tags(&self, target: &Target, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        self.list_tags(target, arn).await
    }
}

/// ListTags pages per job: a resource has at most 50 tags, one page of 50 holds them all.
const MAX_TAG_PAGES: usize = 2;

impl SageMakerJobs {
    async fn list_tags(
        &self,
        target: &Target,
        arn: &str,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        let client = self.clients.get(target).await;
        let mut tags = BTreeMap::new();
        let mut token = None;
        for _ in 0..MAX_TAG_PAGES {
            let out = client
                .list_tags()
                .resource_arn(arn)
                .max_results(50)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| from_sdk("ListTags", &e))?;
            tags.extend(out.tags().iter().filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(tags)
    }
}

// ---- The claim table, read and written ------------------------------------------------

/// The shared claim store (`DynamoClaims`: the conditional puts) and one read, GetItem with
/// a strongly consistent read, so that a claim written a moment ago is seen.
pub struct TableClaims {
    claims: DynamoClaims,
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl TableClaims {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        let table = table.into();
        TableClaims {
            claims: DynamoClaims::new(client.clone(), table.clone()),
            client,
            table,
        }
    }
}

impl ClaimStore for TableClaims {
    async fn claim(&self, claim: &Claim) -> Result<Claimed, AwsError> {
        self.claims.claim(claim).await
    }
    async fn complete(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        self.claims.complete(key, owner).await
    }
    async fn release(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        self.claims.release(key, owner).await
    }
}

impl ClaimReader for TableClaims {
    async fn get(&self, key: &str) -> Result<Option<ClaimItem>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(
                schema::KEY,
                aws_sdk_dynamodb::types::AttributeValue::S(key.to_owned()),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| from_sdk("GetItem", &e))?;
        Ok(out.item().map(parse_item))
    }
}

/// The sweep's re-emission: one PutEvents entry per lost state change, on the configured bus
/// of the function's own account (the rules there route it as they would SageMaker's).
/// Without a bus (SAGEWATCH_SWEEP_EVENT_BUS unset) nothing is put.
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus: Option<String>,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: Option<String>) -> Self {
        EventBridgeBus { client, bus }
    }
}

impl EventBus for EventBridgeBus {
    async fn put(&self, event: &Reemitted) -> Result<(), AwsError> {
        let Some(bus) = &self.bus else {
            return Ok(());
        };
        let mut entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(event.source)
            .detail_type(event.detail_type)
            .detail(event.detail.to_string())
            .set_resources(Some(event.resources.clone()));
        if let Some(t) = event.time {
            entry = entry.time(SmithyTime::from_millis(t.timestamp_millis()));
        }
        let out = self
            .client
            .put_events()
            .entries(entry.build())
            .send()
            .await
            .map_err(|e| from_sdk("PutEvents", &e))?;
        // PutEvents answers 200 with per-entry failures (throttling, internal errors):
        // the entry was not put; the sweep retries it next time (the job stays unclaimed).
        if out.failed_entry_count() > 0 {
            let failed = out.entries().iter().find(|e| e.error_code().is_some());
            let code = failed
                .and_then(|e| e.error_code())
                .unwrap_or("InternalFailure");
            let message = failed
                .and_then(|e| e.error_message())
                .unwrap_or("an entry failed");
            // The entry's code says transient (throttling, internal) or not, as a call's would.
            let kind = match sagewatch_aws::error::kind_of(code, message, None) {
                ErrorKind::Other => ErrorKind::Unavailable,
                k => k,
            };
            return Err(AwsError::new("PutEvents", kind, code, safe_text(message)));
        }
        Ok(())
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
