//! [`TrainingJobs`] with the AWS SDK: SageMaker `Search` (status + tags in one call),
//! `DescribeTrainingJob`, `StopTrainingJob`, `AddTags`, CloudWatch `DescribeAlarms`; STS
//! AssumeRole for other accounts.

use crate::confirm::AlarmFacts;
use crate::policy::JobView;
use crate::ports::{StopOutcome, Target, TrainingJobs};
use aws_config::SdkConfig;
use aws_sdk_cloudwatch as cw;
use aws_sdk_sagemaker as sm;
use chrono::{DateTime, Utc};
use sagewatch::alarm::{AlarmMetric, AlarmState};
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::status::Status;
use sagewatch_aws::error::from_sdk;
use sagewatch_aws::target::TargetClients;
use sm::types::{Filter, Operator, ResourceType, SearchExpression, Tag};

/// The clients used in one account/region.
#[derive(Clone)]
pub struct Clients {
    pub sagemaker: sm::Client,
    pub cloudwatch: cw::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            sagemaker: sm::Client::new(config),
            cloudwatch: cw::Client::new(config),
        }
    }
}

pub struct SageMakerJobs {
    /// The home clients, and clients per (account, region, role) built once per cold start.
    clients: TargetClients<Clients>,
}

impl SageMakerJobs {
    pub fn new(home: SdkConfig) -> Self {
        let clients = Clients::new(&home);
        Self::with_clients(home, clients)
    }

    /// Uses ready clients for the function's own account (tests add a call counter to them).
    pub fn with_clients(home: SdkConfig, home_clients: Clients) -> Self {
        SageMakerJobs {
            clients: TargetClients::new(
                home,
                home_clients,
                Clients::new,
                "sagewatch-overfit-guard",
            ),
        }
    }

    async fn client(&self, target: &Target) -> sm::Client {
        self.clients.get(target).await.sagemaker
    }
}

/// One `MetricStat` of an alarm's metric math, with the account its query reads (`AccountId`
/// of a cross-account observability alarm; absent: the alarm's own account).
fn metric_of(m: &cw::types::Metric, account: Option<&str>) -> AlarmMetric {
    AlarmMetric {
        id: None,
        account_id: account
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
        namespace: m.namespace().map(str::to_owned),
        metric_name: m.metric_name().map(str::to_owned),
        dimensions: m
            .dimensions()
            .iter()
            .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
            .collect(),
    }
}

/// SDK times get the range check event times get (before 2000 or past tomorrow: `None`).
fn to_chrono(t: Option<&sm::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| sagewatch::time::from_epoch_parts(t.secs(), t.subsec_nanos()))
}

impl TrainingJobs for SageMakerJobs {
    async fn alarm(&self, target: &Target, name: &str) -> Result<Option<AlarmFacts>, AwsError> {
        let out = self
            .clients
            .get(target)
            .await
            .cloudwatch
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .map_err(|e| from_sdk("DescribeAlarms", &e))?;
        // Composite alarms watch no metric: they cannot name a job, so they are not found here.
        let Some(a) = out
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(name))
        else {
            return Ok(None);
        };
        let mut metrics = Vec::new();
        if a.namespace().is_some() {
            metrics.push(AlarmMetric {
                id: None,
                namespace: a.namespace().map(str::to_owned),
                metric_name: a.metric_name().map(str::to_owned),
                dimensions: a
                    .dimensions()
                    .iter()
                    .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
                    .collect(),
                account_id: None,
            });
        }
        metrics.extend(
            a.metrics()
                .iter()
                .filter_map(|q| Some(metric_of(q.metric_stat()?.metric()?, q.account_id()))),
        );
        Ok(Some(AlarmFacts {
            state: AlarmState::parse(a.state_value().map_or("", |s| s.as_str())),
            state_updated: to_chrono(a.state_updated_timestamp()),
            metrics,
        }))
    }

    async fn find(&self, target: &Target, name: &str) -> Result<Option<JobView>, AwsError> {
        let filter = Filter::builder()
            .name("TrainingJobName")
            .operator(Operator::Equals)
            .value(name)
            .build();
        let out = self
            .client(target)
            .await
            .search()
            .resource(ResourceType::TrainingJob)
            .search_expression(SearchExpression::builder().filters(filter).build())
            .max_results(1)
            .send()
            .await
            .map_err(|e| from_sdk("Search", &e))?;
        let job = out
            .results()
            .iter()
            .filter_map(|r| r.training_job())
            .find(|j| j.training_job_name() == Some(name));
        Ok(job.map(|j| JobView {
            name: name.to_owned(),
            arn: j.training_job_arn().map(str::to_owned),
            status: Status::new(
                j.training_job_status()
                    .map(|s| s.as_str())
                    .unwrap_or("Unknown"),
            ),
            secondary_status: j.secondary_status().map(|s| Status::new(s.as_str())),
            training_start_time: to_chrono(j.training_start_time()),
            creation_time: to_chrono(j.creation_time()),
            tags: j
                .tags()
                .iter()
                .filter_map(|t: &Tag| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                .collect(),
        }))
    }

    async fn exists(&self, target: &Target, name: &str) -> Result<bool, AwsError> {
        match self
            .client(target)
            .await
            .describe_training_job()
            .training_job_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = from_sdk("DescribeTrainingJob", &e);
                if err.kind == ErrorKind::NotFound {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn stop(&self, target: &Target, name: &str) -> Result<StopOutcome, AwsError> {
        match self
            .client(target)
            .await
            .stop_training_job()
            .training_job_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(StopOutcome::Stopping),
            Err(e) => {
                let err = from_sdk("StopTrainingJob", &e);
                if err.kind == ErrorKind::InvalidState {
                    Ok(StopOutcome::AlreadyInStatus(err.message))
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn tag(
        &self,
        target: &Target,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        self.client(target)
            .await
            .add_tags()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("AddTags", &e))
    }
}
