//! The ports endpoint-guard needs besides notifications and the sink: SageMaker endpoints,
//! CloudWatch alarms, CloudWatch metrics. In-memory doubles live in the tests.

use crate::alarms::{Alarm, Variant};
use chrono::{DateTime, Utc};
use sagewatch::error::AwsError;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;

/// An endpoint with its variants' instance types (DescribeEndpoint + DescribeEndpointConfig).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointView {
    pub name: String,
    pub arn: Option<String>,
    pub config_name: Option<String>,
    pub status: String,
    pub creation_time: Option<DateTime<Utc>>,
    pub variants: Vec<Variant>,
}

/// An InService endpoint as ListEndpoints gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSummary {
    pub name: String,
    pub arn: Option<String>,
    pub creation_time: Option<DateTime<Utc>>,
    /// Its last create or update (the reconciliation re-syncs recently modified ones).
    pub last_modified_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleting,
    /// Gone already, or already being deleted (a duplicate run got there first).
    AlreadyGone(String),
}

pub trait Endpoints: Send + Sync {
    /// `None` when the endpoint does not exist.
    fn describe(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<EndpointView>, AwsError>> + Send;
    fn list_in_service(
        &self,
    ) -> impl Future<Output = Result<Vec<EndpointSummary>, AwsError>> + Send;
    fn tags(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, AwsError>> + Send;
    fn delete(&self, name: &str) -> impl Future<Output = Result<DeleteOutcome, AwsError>> + Send;
}

/// An existing alarm: its name and the EndpointName dimension values of its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingAlarm {
    pub name: String,
    pub endpoints: Vec<String>,
    /// What DescribeAlarms says it is, when it can be read back as one of ours (compared
    /// with the wanted alarm: an unchanged one is not put again).
    pub definition: Option<Alarm>,
    /// Its ALARM and OK actions.
    pub actions: (Vec<String>, Vec<String>),
}

pub trait Alarms: Send + Sync {
    /// Alarms whose name starts with `prefix` (every page).
    fn list(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ExistingAlarm>, AwsError>> + Send;
    fn put(
        &self,
        alarm: &Alarm,
        actions: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Up to 100 names per call (DeleteAlarms' limit); the adapter splits.
    fn delete(&self, names: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// One Invocations series: EndpointName + VariantName.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Series {
    pub endpoint: String,
    pub variant: String,
}

pub trait Metrics: Send + Sync {
    /// Sum of Invocations per series over [start, end); a series without datapoints is 0.
    /// At most 500 series per GetMetricData call: one call for up to 500.
    fn invocation_sums(
        &self,
        series: &[Series],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<HashMap<Series, f64>, AwsError>> + Send;
}
