//! [`TrainingJobs`] with the AWS SDK: SageMaker `Search` (status + tags in one call),
//! `DescribeTrainingJob`, `StopTrainingJob`, `AddTags`, CloudWatch `DescribeAlarms`; STS
//! AssumeRole for other accounts.

use crate::confirm::AlarmFacts;
use crate::guard_alarms::{GuardAlarm, JobFacts, Query};
use crate::policy::JobView;
use crate::ports::{Guarding, ListedAlarm, StopOutcome, Target, TrainingJobs};
use aws_config::SdkConfig;
use aws_sdk_cloudwatch as cw;
use aws_sdk_sagemaker as sm;
use chrono::{DateTime, Utc};
use sagewatch::alarm::{AlarmMetric, AlarmState};
use sagewatch::error::found;
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::status::Status;
use sagewatch_aws::error::from_sdk;
use sagewatch_aws::target::TargetClients;
use sm::types::{Filter, Operator, ResourceType, SearchExpression, Tag};
use std::collections::BTreeMap;

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

/// One entry of an alarm's `Metrics`.
fn query(q: &Query, period: i32) -> cw::types::MetricDataQuery {
    let mut b = cw::types::MetricDataQuery::builder()
        .id(&q.id)
        .return_data(q.return_data)
        .set_label(q.label.clone())
        .set_expression(q.expression.clone());
    if let (Some(m), Some(stat)) = (&q.metric, &q.stat) {
        let metric = cw::types::Metric::builder()
            .namespace(&m.namespace)
            .metric_name(&m.metric)
            .set_dimensions(Some(
                m.dimensions
                    .iter()
                    .map(|(k, v)| cw::types::Dimension::builder().name(k).value(v).build())
                    .collect(),
            ))
            .build();
        b = b.metric_stat(
            cw::types::MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(stat)
                .build(),
        );
    }
    b.build()
}

impl Guarding for SageMakerJobs {
    async fn describe_job(
        &self,
        target: &Target,
        name: &str,
    ) -> Result<Option<JobFacts>, AwsError> {
        let out = self
            .client(target)
            .await
            .describe_training_job()
            .training_job_name(name)
            .send()
            .await
            .map_err(|e| from_sdk("DescribeTrainingJob", &e));
        // AWS's and moto's "not found" wording, one rule in from_sdk.
        let Some(out) = found(out)? else {
            return Ok(None);
        };
        let resources = out.resource_config();
        Ok(Some(JobFacts {
            name: out.training_job_name().unwrap_or(name).to_owned(),
            arn: out.training_job_arn().map(str::to_owned),
            status: Status::new(
                out.training_job_status()
                    .map(|s| s.as_str())
                    .unwrap_or("Unknown"),
            ),
            secondary_status: out.secondary_status().map(|s| Status::new(s.as_str())),
            training_start_time: to_chrono(out.training_start_time()),
            metric_names: out
                .algorithm_specification()
                .map(|a| {
                    a.metric_definitions()
                        .iter()
                        .filter_map(|d| d.name().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            instance_type: resources
                .and_then(|r| r.instance_type())
                .map(|t| t.as_str().to_owned()),
            instance_count: resources
                .and_then(|r| r.instance_count())
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(1),
            instance_groups: resources.is_some_and(|r| !r.instance_groups().is_empty()),
        }))
    }

    async fn list_alarms(
        &self,
        target: &Target,
        prefix: &str,
    ) -> Result<Vec<ListedAlarm>, AwsError> {
        let client = self.clients.get(target).await.cloudwatch;
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .describe_alarms()
                .alarm_name_prefix(prefix)
                .alarm_types(cw::types::AlarmType::MetricAlarm)
                .max_records(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk("DescribeAlarms", &e))?;
            out.extend(page.metric_alarms().iter().filter_map(|a| {
                Some(ListedAlarm {
                    name: a.alarm_name()?.to_owned(),
                    arn: a.alarm_arn().map(str::to_owned),
                })
            }));
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn alarm_tags(
        &self,
        target: &Target,
        arn: &str,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        let out = self
            .clients
            .get(target)
            .await
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| from_sdk("ListTagsForResource", &e))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect())
    }

    async fn put_alarm(
        &self,
        target: &Target,
        alarm: &GuardAlarm,
        actions: &[String],
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        // Tags apply when the alarm is created (PutMetricAlarm ignores them on an update).
        self.clients
            .get(target)
            .await
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&alarm.name)
            .alarm_description(&alarm.description)
            .actions_enabled(true)
            .set_alarm_actions(Some(actions.to_vec()))
            .set_metrics(Some(
                alarm
                    .queries
                    .iter()
                    .map(|q| query(q, alarm.period))
                    .collect(),
            ))
            .evaluation_periods(alarm.evaluation_periods)
            .datapoints_to_alarm(alarm.datapoints_to_alarm)
            .threshold(alarm.threshold)
            .comparison_operator(cw::types::ComparisonOperator::from(alarm.comparison))
            .treat_missing_data(alarm.treat_missing_data)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| cw::types::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("PutMetricAlarm", &e))
    }

    async fn delete_alarms(&self, target: &Target, names: &[String]) -> Result<(), AwsError> {
        let client = self.clients.get(target).await.cloudwatch;
        // DeleteAlarms takes at most 100 names; deleting a missing alarm is not an error.
        for chunk in names.chunks(100) {
            client
                .delete_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| from_sdk("DeleteAlarms", &e))?;
        }
        Ok(())
    }
}
