//! The one port the guard needs besides notifications and the sink: the account the alarm and
//! its job live in — the training job, and the alarm itself (to confirm the notification).

use crate::confirm::AlarmFacts;
use crate::policy::JobView;
use sagewatch::error::AwsError;
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
