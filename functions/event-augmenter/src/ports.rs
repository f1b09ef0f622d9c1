//! What the augmenter needs from outside besides the shared ports (the claim store that counts
//! each event once, and the sink for EMF and report lines): host metrics, and for the sweep
//! the jobs SageMaker lists and describes and a read of the claim store. Production:
//! CloudWatch, SageMaker and DynamoDB (`adapter.rs`); tests: in-memory fakes.

use chrono::{DateTime, Utc};
use sagewatch::claims::{ClaimItem, MemoryClaims};
use sagewatch::error::AwsError;
use sagewatch::events::JobType;
use sagewatch::sweep::{JobView, Listed, Reemitted, Window};
use sagewatch::target::Target;
use std::collections::BTreeMap;
use std::future::Future;

/// Which aggregate of a host metric a report field or EMF metric holds. Both are computed from
/// one `Average` query per (host, metric) at the storage granularity (see `utilization.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stat {
    Average,
    Maximum,
}

impl Stat {
    pub const ALL: [Stat; 2] = [Stat::Average, Stat::Maximum];

    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Average => "Average",
            Stat::Maximum => "Maximum",
        }
    }
}

/// The CloudWatch statistic every query asks for, per period.
pub const QUERY_STAT: &str = "Average";

/// One MetricStat query: one host, one metric, `Average` per `period`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// Unique within the request, `^[a-z][a-zA-Z0-9_]*$`.
    pub id: String,
    pub namespace: String,
    pub metric_name: String,
    /// Exact value of the `Host` dimension.
    pub host: String,
    pub period: i32,
    /// Set only for another account's metrics (CloudWatch cross-account observability).
    pub account_id: Option<String>,
}

/// All queries of one terminal job over one window. The adapter sends them in as few
/// GetMetricData calls as the API allows (500 queries each) and follows NextToken.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRequest {
    pub queries: Vec<MetricQuery>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The answer to a [`MetricRequest`], every page merged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricValues {
    /// Datapoints (one `Average` per period) per query id. An id without values had no data.
    pub series: BTreeMap<String, Vec<f64>>,
    /// Query ids CloudWatch answered with StatusCode `Forbidden` (e.g. another account's
    /// metrics without an OAM link), with CloudWatch's message.
    pub forbidden: BTreeMap<String, String>,
}

/// Hosts of a batch transform job are `<job>/<instance-id>`: they can only be discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDiscovery {
    pub namespace: String,
    /// Every host reports it; filtering on it keeps the listing short.
    pub metric_name: String,
    pub job_name: String,
    pub account_id: Option<String>,
    /// Only metrics with data in the last 3 hours (`RecentlyActive=PT3H`): a smaller scan,
    /// used when the job ended recently enough.
    pub recently_active: bool,
}

/// What ListMetrics found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoveredHosts {
    /// `Host` values that start with `<job>/`, sorted, unique.
    pub hosts: Vec<String>,
    /// The page cap stopped the listing: there may be more hosts.
    pub truncated: bool,
}

pub trait HostMetrics: Send + Sync {
    fn fetch(
        &self,
        request: &MetricRequest,
    ) -> impl Future<Output = Result<MetricValues, AwsError>> + Send;
    fn discover_hosts(
        &self,
        request: &HostDiscovery,
    ) -> impl Future<Output = Result<DiscoveredHosts, AwsError>> + Send;
}

/// One List*Jobs call of the sweep: jobs of one type last modified inside the window,
/// newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub job_type: JobType,
    pub window: Window,
    /// `MaxResults` (1..=100).
    pub page_size: u32,
    pub next_token: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    pub jobs: Vec<Listed>,
    /// More pages follow (SageMaker's opaque `NextToken`).
    pub next_token: Option<String>,
}

/// The jobs of an account and region (the sweep's port; cross-account through the role).
pub trait Jobs: Send + Sync {
    fn list(
        &self,
        target: &Target,
        request: &ListRequest,
    ) -> impl Future<Output = Result<ListPage, AwsError>> + Send;
    /// `None`: the job no longer exists.
    fn describe(
        &self,
        target: &Target,
        job_type: JobType,
        name: &str,
    ) -> impl Future<Output = Result<Option<JobView>, AwsError>> + Send;
    /// The job's tags (ListTags; Describe*Job has none), read only when reports copy tags.
    fn tags(
        &self,
        target: &Target,
        arn: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, AwsError>> + Send;
}

/// A read of the claim store: is there a claim for this key? (The sweep skips a job whose
/// claim exists without reading its metrics; the event path's own conditional put still
/// decides between a sweep and a late event that run at once.)
pub trait ClaimReader: Send + Sync {
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<ClaimItem>, AwsError>> + Send;
}

impl ClaimReader for MemoryClaims {
    async fn get(&self, key: &str) -> Result<Option<ClaimItem>, AwsError> {
        Ok(self.items().get(key).cloned())
    }
}

/// A function without the sweep's SageMaker access (tests of the event path): every
/// listing is empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJobs;

impl Jobs for NoJobs {
    async fn list(&self, _target: &Target, _request: &ListRequest) -> Result<ListPage, AwsError> {
        Ok(ListPage::default())
    }
    async fn describe(
        &self,
        _target: &Target,
        _job_type: JobType,
        _name: &str,
    ) -> Result<Option<JobView>, AwsError> {
        Ok(None)
    }
    async fn tags(
        &self,
        _target: &Target,
        _arn: &str,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        Ok(BTreeMap::new())
    }
}

pub use sagewatch::output::{MemorySink, Sink, StdoutSink};

/// Where the sweep puts the state changes SageMaker's events never delivered, so that every
/// other consumer's rule routes them as it would have routed SageMaker's (PutEvents).
pub trait EventBus: Send + Sync {
    fn put(&self, event: &Reemitted) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// No bus configured (SAGEWATCH_SWEEP_EVENT_BUS unset; tests of the event path): the sweep
/// counts and reports, and re-emits nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBus;

impl EventBus for NoBus {
    async fn put(&self, _event: &Reemitted) -> Result<(), AwsError> {
        Ok(())
    }
}

/// Keeps what was put (handler tests).
#[derive(Debug, Default)]
pub struct MemoryBus(pub std::sync::Mutex<Vec<Reemitted>>);

impl EventBus for MemoryBus {
    async fn put(&self, event: &Reemitted) -> Result<(), AwsError> {
        if let Ok(mut v) = self.0.lock() {
            v.push(event.clone());
        }
        Ok(())
    }
}
