//! What the enricher needs from the outside world besides the shared ports (notifications,
//! claims, the sink): the failed resources (jobs, endpoints and their rollback alarms,
//! pipelines, tuning jobs) and their logs, as small traits. SDK adapters in
//! [`crate::adapter`], in-memory fakes in the handler tests.

use crate::endpoint::EndpointFacts;
use crate::job::JobFacts;
use crate::logs::{LogEvent, StreamInfo};
use crate::pipeline::StepList;
use crate::rollback::AlarmState;
use crate::tuning::{ChildList, TuningFacts};
use sagewatch::error::AwsError;
use sagewatch::events::JobType;
use sagewatch::target::Target;
use std::future::Future;

pub trait Jobs: Send + Sync {
    /// DescribeTrainingJob / DescribeProcessingJob / DescribeTransformJob; `None` = no such job.
    fn describe(
        &self,
        target: &Target,
        job_type: JobType,
        name: &str,
    ) -> impl Future<Output = Result<Option<JobFacts>, AwsError>> + Send;

    /// DescribeEndpoint; `None` = no such endpoint. The default knows none (job-only fakes).
    fn describe_endpoint(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<Option<EndpointFacts>, AwsError>> + Send {
        let _ = (target, name);
        async { Ok(None) }
    }

    /// ListPipelineExecutionSteps, every page up to a bound; `None` = no such execution.
    fn pipeline_steps(
        &self,
        target: &Target,
        execution_arn: &str,
    ) -> impl Future<Output = Result<Option<StepList>, AwsError>> + Send {
        let _ = (target, execution_arn);
        async { Ok(None) }
    }

    /// DescribeHyperParameterTuningJob; `None` = no such tuning job.
    fn tuning_job(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<Option<TuningFacts>, AwsError>> + Send {
        let _ = (target, name);
        async { Ok(None) }
    }

    /// DescribeAlarms of these alarms (an endpoint's auto-rollback alarms, at most 10: one
    /// call); alarms that do not exist are left out. The default knows none.
    fn alarms(
        &self,
        target: &Target,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmState>, AwsError>> + Send {
        let _ = (target, names);
        async { Ok(Vec::new()) }
    }

    /// ListTrainingJobsForHyperParameterTuningJob with StatusEquals=Failed: at most `limit`
    /// children (names and FailureReasons), and whether there were more.
    fn failed_children(
        &self,
        target: &Target,
        tuning_job: &str,
        limit: usize,
    ) -> impl Future<Output = Result<ChildList, AwsError>> + Send {
        let _ = (target, tuning_job, limit);
        async { Ok(ChildList::default()) }
    }
}

/// One adapter can serve both ports ([`crate::adapter::JobAccounts`] shares its clients).
impl<T: Jobs> Jobs for &T {
    fn describe(
        &self,
        target: &Target,
        job_type: JobType,
        name: &str,
    ) -> impl Future<Output = Result<Option<JobFacts>, AwsError>> + Send {
        (**self).describe(target, job_type, name)
    }
    fn describe_endpoint(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<Option<EndpointFacts>, AwsError>> + Send {
        (**self).describe_endpoint(target, name)
    }
    fn pipeline_steps(
        &self,
        target: &Target,
        execution_arn: &str,
    ) -> impl Future<Output = Result<Option<StepList>, AwsError>> + Send {
        (**self).pipeline_steps(target, execution_arn)
    }
    fn tuning_job(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<Option<TuningFacts>, AwsError>> + Send {
        (**self).tuning_job(target, name)
    }
    fn alarms(
        &self,
        target: &Target,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmState>, AwsError>> + Send {
        (**self).alarms(target, names)
    }
    fn failed_children(
        &self,
        target: &Target,
        tuning_job: &str,
        limit: usize,
    ) -> impl Future<Output = Result<ChildList, AwsError>> + Send {
        (**self).failed_children(target, tuning_job, limit)
    }
}

/// One GetLogEvents page: events oldest first, and the token for the older page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPage {
    pub events: Vec<LogEvent>,
    pub older: Option<String>,
}

pub trait Logs: Send + Sync {
    /// Streams whose names start with `prefix` (DescribeLogStreams, at most a few pages).
    /// A missing log group is an empty list: a job can fail before it logs anything.
    fn streams(
        &self,
        target: &Target,
        group: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<StreamInfo>, AwsError>> + Send;
    /// The newest `limit` events of a stream, or the page before `older`.
    fn page(
        &self,
        target: &Target,
        group: &str,
        stream: &str,
        limit: usize,
        older: Option<String>,
    ) -> impl Future<Output = Result<LogPage, AwsError>> + Send;
}

impl<T: Logs> Logs for &T {
    fn streams(
        &self,
        target: &Target,
        group: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<StreamInfo>, AwsError>> + Send {
        (**self).streams(target, group, prefix)
    }
    fn page(
        &self,
        target: &Target,
        group: &str,
        stream: &str,
        limit: usize,
        older: Option<String>,
    ) -> impl Future<Output = Result<LogPage, AwsError>> + Send {
        (**self).page(target, group, stream, limit, older)
    }
}
