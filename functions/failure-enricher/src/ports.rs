//! What the enricher needs from the outside world, as small traits: SDK adapters in
//! [`crate::adapter`], in-memory fakes in the handler tests.

use crate::job::JobFacts;
use crate::logs::{LogEvent, StreamInfo};
use sagewatch::aws::target::Target;
use sagewatch::error::AwsError;
use sagewatch::events::JobType;
use std::future::Future;

pub trait Jobs: Send + Sync {
    /// DescribeTrainingJob / DescribeProcessingJob / DescribeTransformJob; `None` = no such job.
    fn describe(
        &self,
        target: &Target,
        job_type: JobType,
        name: &str,
    ) -> impl Future<Output = Result<Option<JobFacts>, AwsError>> + Send;
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

/// Remembers which failures were already reported, so a duplicate EventBridge delivery does
/// not notify twice (DynamoDB conditional put). [`AlwaysReport`] when no table is configured.
pub trait ReportLedger: Send + Sync {
    /// `true` when this call claimed `key` (first delivery), `false` when it was claimed before.
    fn claim(&self, key: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Gives the claim back after a failure, so the retry reports.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The report went out: the claim is final (never taken over as stale).
    fn mark_sent(&self, key: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

impl<T: ReportLedger> ReportLedger for &T {
    fn claim(&self, key: &str) -> impl Future<Output = Result<bool, AwsError>> + Send {
        (**self).claim(key)
    }
    fn release(&self, key: &str) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).release(key)
    }
    fn mark_sent(&self, key: &str) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).mark_sent(key)
    }
}

/// No ledger: every delivery reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysReport;

impl ReportLedger for AlwaysReport {
    async fn claim(&self, _key: &str) -> Result<bool, AwsError> {
        Ok(true)
    }
    async fn release(&self, _key: &str) -> Result<(), AwsError> {
        Ok(())
    }
    async fn mark_sent(&self, _key: &str) -> Result<(), AwsError> {
        Ok(())
    }
}

pub use sagewatch::output::{MemorySink, Sink, StdoutSink};
