//! What the augmenter needs from outside besides the shared ports (the claim store that counts
//! each event once, and the sink for EMF and report lines): host metrics. Production:
//! CloudWatch (`adapter.rs`); tests: an in-memory fake.

use chrono::{DateTime, Utc};
use sagewatch::error::AwsError;
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

pub use sagewatch::output::{MemorySink, Sink, StdoutSink};
