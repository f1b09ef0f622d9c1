//! The one port the guard needs besides notifications and the sink: the account the alarm and
//! its job live in — the training job, and the alarm itself (to confirm the notification).

use crate::confirm::AlarmFacts;
use crate::guard_alarms::{GuardAlarm, JobFacts};
use crate::policy::JobView;
use sagewatch::error::AwsError;
use std::collections::BTreeMap;
use std::future::Future;

/// Where the job lives (shared with the other functions: one account/role decision).
pub use sagewatch::target::Target;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// SageMaker accepted the stop: the job is Stopping.
    Stopping,
    /// SageMaker refused because the job already left InProgress (its message says the status).
    AlreadyInStatus(String),
}

pub trait TrainingJobs: Send + Sync {
    /// The job with its status, times and tags in one call, or `None` when not found.
    fn find(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<Option<JobView>, AwsError>> + Send;
    /// Whether the job exists at all (only asked when [`TrainingJobs::find`] found nothing).
    fn exists(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    fn stop(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<StopOutcome, AwsError>> + Send;
    fn tag(
        &self,
        target: &Target,
        arn: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The alarm as CloudWatch has it now (DescribeAlarms), `None` when there is none.
    fn alarm(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<Option<AlarmFacts>, AwsError>> + Send;
}

/// An alarm under the guard's prefix, as DescribeAlarms lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedAlarm {
    pub name: String,
    pub arn: Option<String>,
}

/// What the guard alarms need (issue #17): the job's facts, and the alarms in its account.
/// The SDK adapter is [`crate::adapter::SageMakerJobs`]; in-memory doubles live in the tests.
pub trait Guarding: Send + Sync {
    /// DescribeTrainingJob (strongly consistent, unlike Search); `None` when there is no
    /// such job.
    fn describe_job(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<Option<JobFacts>, AwsError>> + Send;
    /// Every metric alarm whose name starts with `prefix` (all pages).
    fn list_alarms(
        &self,
        target: &Target,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ListedAlarm>, AwsError>> + Send;
    /// The alarm's tags (ListTagsForResource): what tells the guard's alarms from a user's.
    fn alarm_tags(
        &self,
        target: &Target,
        arn: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, AwsError>> + Send;
    /// PutMetricAlarm (an upsert by name) with these actions and, on creation, tags.
    fn put_alarm(
        &self,
        target: &Target,
        alarm: &GuardAlarm,
        actions: &[String],
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DeleteAlarms, at most 100 names per call (the adapter splits).
    fn delete_alarms(
        &self,
        target: &Target,
        names: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}
