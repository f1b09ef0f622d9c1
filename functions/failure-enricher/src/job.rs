//! What DescribeTrainingJob / DescribeProcessingJob / DescribeTransformJob tell about a failed
//! job, in one shape for all three.

use chrono::{DateTime, Utc};
use sagewatch::events::JobType;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFacts {
    pub name: String,
    pub arn: Option<String>,
    pub status: Option<String>,
    /// The first 1024 characters of /opt/ml/output/failure, prefixed by SageMaker
    /// (`AlgorithmError:`, `ClientError:`, …).
    pub failure_reason: Option<String>,
    /// Processing jobs only: the last lines the container wrote to /opt/ml/output/message.
    pub exit_message: Option<String>,
    pub secondary_status: Option<String>,
    /// `SecondaryStatusTransitions[].StatusMessage`, oldest first (training only).
    pub status_messages: Vec<String>,
    pub instance_type: Option<String>,
    pub instance_count: Option<i64>,
    pub image: Option<String>,
    /// Hyperparameters (training) or container environment (processing, transform).
    /// Unredacted here: the report redacts.
    pub parameters: BTreeMap<String, String>,
    pub input_uris: Vec<String>,
    pub creation_time: Option<DateTime<Utc>>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// StoppingCondition (training): the limits a `Stopped` job may have hit.
    pub max_runtime_seconds: Option<i64>,
    pub max_wait_seconds: Option<i64>,
    /// TrainingTimeInSeconds (training): what counts against MaxRuntimeInSeconds.
    pub training_seconds: Option<i64>,
}

/// The `ResourceType` of the `Failures` metric and of the report.
pub fn resource_type(job_type: JobType) -> &'static str {
    match job_type {
        JobType::Training => "TrainingJob",
        JobType::Processing => "ProcessingJob",
        JobType::Transform => "TransformJob",
    }
}

/// SecondaryStatus values of a training job that SageMaker stopped at a time limit: a failure
/// to report, unlike a job a person stopped (`Stopped`).
pub const TIMEOUT_STATUSES: &[&str] = &["MaxRuntimeExceeded", "MaxWaitTimeExceeded"];

impl JobFacts {
    /// Training jobs call their parameters hyperparameters; the others pass an environment.
    pub fn parameters_label(job_type: JobType) -> &'static str {
        match job_type {
            JobType::Training => "hyperparameters",
            JobType::Processing | JobType::Transform => "environment",
        }
    }

    pub fn duration_seconds(&self) -> Option<i64> {
        let start = self.start_time.or(self.creation_time)?;
        Some((self.end_time? - start).num_seconds().max(0))
    }
}
