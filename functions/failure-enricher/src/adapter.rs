//! The ports with the AWS SDK: SageMaker Describe*, CloudWatch DescribeAlarms (an endpoint's
//! auto-rollback alarms) and CloudWatch Logs DescribeLogStreams / GetLogEvents, in the
//! resource's account (through an assumed role when it is another one).

use crate::endpoint::{EndpointFacts, Variant};
use crate::job::JobFacts;
use crate::logs::{LogEvent, StreamInfo, MAX_STREAM_PAGES};
use crate::pipeline::{self, StepFacts, StepList, MAX_STEP_PAGES, STEPS_PER_PAGE};
use crate::ports::{Jobs, LogPage, Logs};
use crate::rollback::AlarmState;
use crate::tuning::{Child, ChildList, TuningFacts};
use aws_config::SdkConfig;
use aws_sdk_cloudwatch as cw;
use aws_sdk_cloudwatchlogs as cwl;
use aws_sdk_sagemaker as sm;
use chrono::{DateTime, Utc};
use sagewatch::error::found;
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::events::JobType;
use sagewatch::target::Target;
use sagewatch_aws::error::from_sdk;
use sagewatch_aws::target::TargetClients;
use std::collections::{BTreeMap, HashMap};

/// The clients used in one account/region.
#[derive(Clone)]
pub struct Clients {
    pub sagemaker: sm::Client,
    pub logs: cwl::Client,
    pub cloudwatch: cw::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            sagemaker: sm::Client::new(config),
            logs: cwl::Client::new(config),
            cloudwatch: cw::Client::new(config),
        }
    }
}

/// SageMaker and CloudWatch Logs, per target account/region.
pub struct JobAccounts {
    clients: TargetClients<Clients>,
}

impl JobAccounts {
    pub fn new(home: SdkConfig) -> Self {
        let clients = Clients::new(&home);
        Self::with_clients(home, clients)
    }

    /// Ready clients for the function's own account (tests add a call counter to them).
    pub fn with_clients(home: SdkConfig, clients: Clients) -> Self {
        JobAccounts {
            clients: TargetClients::new(home, clients, Clients::new, "sagewatch-failure-enricher"),
        }
    }
}

fn time(t: Option<&sm::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn params(map: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

impl Jobs for JobAccounts {
    async fn describe(
        &self,
        target: &Target,
        job_type: JobType,
        name: &str,
    ) -> Result<Option<JobFacts>, AwsError> {
        let sm = self.clients.get(target).await.sagemaker;
        match job_type {
            JobType::Training => {
                let out = sm
                    .describe_training_job()
                    .training_job_name(name)
                    .send()
                    .await
                    .map_err(|e| from_sdk("DescribeTrainingJob", &e));
                Ok(found(out)?.map(|j| training(name, &j)))
            }
            JobType::Processing => {
                let out = sm
                    .describe_processing_job()
                    .processing_job_name(name)
                    .send()
                    .await
                    .map_err(|e| from_sdk("DescribeProcessingJob", &e));
                Ok(found(out)?.map(|j| processing(name, &j)))
            }
            JobType::Transform => {
                let out = sm
                    .describe_transform_job()
                    .transform_job_name(name)
                    .send()
                    .await
                    .map_err(|e| from_sdk("DescribeTransformJob", &e));
                Ok(found(out)?.map(|j| transform(name, &j)))
            }
        }
    }

    async fn describe_endpoint(
        &self,
        target: &Target,
        name: &str,
    ) -> Result<Option<EndpointFacts>, AwsError> {
        let sm = self.clients.get(target).await.sagemaker;
        let out = sm
            .describe_endpoint()
            .endpoint_name(name)
            .send()
            .await
            .map_err(|e| from_sdk("DescribeEndpoint", &e));
        Ok(found(out)?.map(|e| endpoint(name, &e)))
    }

    async fn alarms(&self, target: &Target, names: &[String]) -> Result<Vec<AlarmState>, AwsError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let cw = self.clients.get(target).await.cloudwatch;
        // At most 10 names (AutoRollbackConfiguration's limit): one page. Metric alarms only:
        // composite alarms are returned only to a DescribeAlarms permission on "*", and the
        // role's is scoped to the account's alarm ARNs (a composite one is reported as not
        // described).
        let out = cw
            .describe_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .max_records(100)
            .send()
            .await
            .map_err(|e| from_sdk("DescribeAlarms", &e))?;
        let when =
            |t: &cw::primitives::DateTime| DateTime::from_timestamp(t.secs(), t.subsec_nanos());
        Ok(out
            .metric_alarms()
            .iter()
            .map(|a| AlarmState {
                name: a.alarm_name().unwrap_or_default().to_owned(),
                state: a
                    .state_value()
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default(),
                reason: a.state_reason().map(str::to_owned),
                // When StateValue last changed; StateUpdatedTimestamp also moves with
                // EvaluationState (moto answers only that one).
                updated: a
                    .state_transitioned_timestamp()
                    .or(a.state_updated_timestamp())
                    .and_then(when),
            })
            .filter(|a| !a.name.is_empty())
            .collect())
    }

    async fn pipeline_steps(
        &self,
        target: &Target,
        execution_arn: &str,
    ) -> Result<Option<StepList>, AwsError> {
        let sm = self.clients.get(target).await.sagemaker;
        let mut list = StepList::default();
        let mut token: Option<String> = None;
        for _ in 0..MAX_STEP_PAGES {
            let page = sm
                .list_pipeline_execution_steps()
                .pipeline_execution_arn(execution_arn)
                .max_results(STEPS_PER_PAGE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| from_sdk("ListPipelineExecutionSteps", &e));
            let Some(page) = found(page)? else {
                return Ok(None);
            };
            list.steps
                .extend(page.pipeline_execution_steps().iter().map(step));
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => {
                    list.complete = true;
                    break;
                }
            }
        }
        Ok(Some(list))
    }

    async fn tuning_job(
        &self,
        target: &Target,
        name: &str,
    ) -> Result<Option<TuningFacts>, AwsError> {
        let sm = self.clients.get(target).await.sagemaker;
        let out = sm
            .describe_hyper_parameter_tuning_job()
            .hyper_parameter_tuning_job_name(name)
            .send()
            .await
            .map_err(|e| from_sdk("DescribeHyperParameterTuningJob", &e));
        Ok(found(out)?.map(|t| {
            let c = t.training_job_status_counters();
            let counters = [
                ("Completed", c.and_then(|c| c.completed())),
                ("InProgress", c.and_then(|c| c.in_progress())),
                ("RetryableError", c.and_then(|c| c.retryable_error())),
                ("NonRetryableError", c.and_then(|c| c.non_retryable_error())),
                ("Stopped", c.and_then(|c| c.stopped())),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), i64::from(v?))))
            .collect();
            TuningFacts {
                name: t
                    .hyper_parameter_tuning_job_name()
                    .unwrap_or(name)
                    .to_owned(),
                arn: t.hyper_parameter_tuning_job_arn().map(str::to_owned),
                status: t
                    .hyper_parameter_tuning_job_status()
                    .map(|s| s.as_str().to_owned()),
                failure_reason: t
                    .failure_reason()
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
                counters,
                creation_time: time(t.creation_time()),
                end_time: time(t.hyper_parameter_tuning_end_time()),
            }
        }))
    }

    async fn failed_children(
        &self,
        target: &Target,
        tuning_job: &str,
        limit: usize,
    ) -> Result<ChildList, AwsError> {
        let sm = self.clients.get(target).await.sagemaker;
        let mut out = ChildList::default();
        let mut token: Option<String> = None;
        while out.children.len() < limit {
            let want = (limit - out.children.len()).min(100);
            let page = sm
                .list_training_jobs_for_hyper_parameter_tuning_job()
                .hyper_parameter_tuning_job_name(tuning_job)
                .status_equals(sm::types::TrainingJobStatus::Failed)
                .max_results(i32::try_from(want).unwrap_or(100))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| from_sdk("ListTrainingJobsForHyperParameterTuningJob", &e));
            // The tuning job was described a moment ago: gone now means no children to read.
            let Some(page) = found(page)? else {
                return Ok(out);
            };
            out.children.extend(
                page.training_job_summaries()
                    .iter()
                    .filter_map(|j| {
                        Some(Child {
                            name: j.training_job_name()?.to_owned(),
                            failure_reason: j.failure_reason().map(str::to_owned),
                        })
                    })
                    .take(want),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
        out.more = token.is_some();
        Ok(out)
    }
}

/// One ListPipelineExecutionSteps entry: the step's kind is the Metadata member that is set.
fn step(s: &sm::types::PipelineExecutionStep) -> StepFacts {
    let m = s.metadata();
    let job = m.and_then(|m| {
        let arn_of = [
            (JobType::Training, m.training_job().and_then(|j| j.arn())),
            (
                JobType::Processing,
                m.processing_job().and_then(|j| j.arn()),
            ),
            (JobType::Transform, m.transform_job().and_then(|j| j.arn())),
        ];
        arn_of
            .into_iter()
            .find_map(|(t, arn)| pipeline::job_of_arn(t, arn?))
    });
    let kind = m.and_then(|m| {
        let kinds = [
            ("TrainingJob", m.training_job().is_some()),
            ("ProcessingJob", m.processing_job().is_some()),
            ("TransformJob", m.transform_job().is_some()),
            ("TuningJob", m.tuning_job().is_some()),
            ("Model", m.model().is_some()),
            ("RegisterModel", m.register_model().is_some()),
            ("Condition", m.condition().is_some()),
            ("Callback", m.callback().is_some()),
            ("Lambda", m.lambda().is_some()),
            ("EMR", m.emr().is_some()),
            ("QualityCheck", m.quality_check().is_some()),
            ("ClarifyCheck", m.clarify_check().is_some()),
            ("Fail", m.fail().is_some()),
            ("AutoMLJob", m.auto_ml_job().is_some()),
            ("Endpoint", m.endpoint().is_some()),
            ("EndpointConfig", m.endpoint_config().is_some()),
        ];
        kinds
            .into_iter()
            .find(|(_, set)| *set)
            .map(|(k, _)| k.to_owned())
    });
    StepFacts {
        name: s.step_name().unwrap_or_default().to_owned(),
        status: s.step_status().map(|st| st.as_str().to_owned()),
        failure_reason: s.failure_reason().map(str::to_owned),
        job,
        kind,
        start_time: time(s.start_time()),
        end_time: time(s.end_time()),
    }
}

fn endpoint(
    name: &str,
    e: &sm::operation::describe_endpoint::DescribeEndpointOutput,
) -> EndpointFacts {
    // A failed update describes the variants it was deploying as pending; a failed creation
    // may have no variants at all yet.
    let variants = e
        .production_variants()
        .iter()
        .map(|v| Variant {
            name: v.variant_name().unwrap_or_default().to_owned(),
            instance_type: v
                .current_serverless_config()
                .map(|_| "serverless".to_owned()),
            instance_count: v.current_instance_count().map(i64::from),
        })
        .chain(e.pending_deployment_summary().into_iter().flat_map(|p| {
            p.production_variants().iter().map(|v| Variant {
                name: v.variant_name().unwrap_or_default().to_owned(),
                instance_type: v.instance_type().map(|t| t.as_str().to_owned()),
                instance_count: v.desired_instance_count().map(i64::from),
            })
        }))
        .filter(|v| !v.name.is_empty())
        .collect();
    EndpointFacts {
        name: e.endpoint_name().unwrap_or(name).to_owned(),
        arn: e.endpoint_arn().map(str::to_owned),
        status: e.endpoint_status().map(|s| s.as_str().to_owned()),
        failure_reason: e.failure_reason().map(str::to_owned),
        config_name: e.endpoint_config_name().map(str::to_owned),
        variants,
        creation_time: time(e.creation_time()),
        last_modified_time: time(e.last_modified_time()),
        rollback_alarms: e
            .last_deployment_config()
            .and_then(|d| d.auto_rollback_configuration())
            .map(|r| {
                r.alarms()
                    .iter()
                    .filter_map(|a| a.alarm_name())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn training(
    name: &str,
    j: &sm::operation::describe_training_job::DescribeTrainingJobOutput,
) -> JobFacts {
    let rc = j.resource_config();
    // Heterogeneous clusters describe instance groups instead of one type and count.
    let group = rc.and_then(|r| r.instance_groups().first());
    JobFacts {
        name: j.training_job_name().unwrap_or(name).to_owned(),
        arn: j.training_job_arn().map(str::to_owned),
        status: j.training_job_status().map(|s| s.as_str().to_owned()),
        failure_reason: j.failure_reason().map(str::to_owned),
        exit_message: None,
        secondary_status: j.secondary_status().map(|s| s.as_str().to_owned()),
        status_messages: j
            .secondary_status_transitions()
            .iter()
            .filter_map(|t| t.status_message().map(str::to_owned))
            .collect(),
        instance_type: rc
            .and_then(|r| r.instance_type())
            .or_else(|| group.and_then(|g| g.instance_type()))
            .map(|t| t.as_str().to_owned()),
        instance_count: rc
            .and_then(|r| r.instance_count())
            .or_else(|| group.and_then(|g| g.instance_count()))
            .map(i64::from),
        image: j
            .algorithm_specification()
            .and_then(|a| a.training_image().or(a.algorithm_name()))
            .map(str::to_owned),
        parameters: params(j.hyper_parameters()),
        input_uris: j
            .input_data_config()
            .iter()
            .filter_map(|c| c.data_source()?.s3_data_source()?.s3_uri())
            .map(str::to_owned)
            .collect(),
        creation_time: time(j.creation_time()),
        start_time: time(j.training_start_time()),
        end_time: time(j.training_end_time()),
        max_runtime_seconds: j
            .stopping_condition()
            .and_then(|s| s.max_runtime_in_seconds())
            .map(i64::from),
        max_wait_seconds: j
            .stopping_condition()
            .and_then(|s| s.max_wait_time_in_seconds())
            .map(i64::from),
        training_seconds: j.training_time_in_seconds().map(i64::from),
    }
}

fn processing(
    name: &str,
    j: &sm::operation::describe_processing_job::DescribeProcessingJobOutput,
) -> JobFacts {
    let cluster = j.processing_resources().and_then(|r| r.cluster_config());
    JobFacts {
        name: j.processing_job_name().unwrap_or(name).to_owned(),
        arn: j.processing_job_arn().map(str::to_owned),
        status: j.processing_job_status().map(|s| s.as_str().to_owned()),
        failure_reason: j.failure_reason().map(str::to_owned),
        exit_message: j.exit_message().map(str::to_owned),
        secondary_status: None,
        status_messages: Vec::new(),
        instance_type: cluster
            .and_then(|c| c.instance_type())
            .map(|t| t.as_str().to_owned()),
        instance_count: cluster.and_then(|c| c.instance_count()).map(i64::from),
        image: j
            .app_specification()
            .and_then(|a| a.image_uri())
            .map(str::to_owned),
        parameters: params(j.environment()),
        input_uris: j
            .processing_inputs()
            .iter()
            .filter_map(|i| i.s3_input()?.s3_uri())
            .map(str::to_owned)
            .collect(),
        creation_time: time(j.creation_time()),
        start_time: time(j.processing_start_time()),
        end_time: time(j.processing_end_time()),
        ..JobFacts::default()
    }
}

fn transform(
    name: &str,
    j: &sm::operation::describe_transform_job::DescribeTransformJobOutput,
) -> JobFacts {
    let resources = j.transform_resources();
    JobFacts {
        name: j.transform_job_name().unwrap_or(name).to_owned(),
        arn: j.transform_job_arn().map(str::to_owned),
        status: j.transform_job_status().map(|s| s.as_str().to_owned()),
        failure_reason: j.failure_reason().map(str::to_owned),
        exit_message: None,
        secondary_status: None,
        status_messages: Vec::new(),
        instance_type: resources
            .and_then(|r| r.instance_type())
            .map(|t| t.as_str().to_owned()),
        instance_count: resources.and_then(|r| r.instance_count()).map(i64::from),
        image: j.model_name().map(|m| format!("model {m}")),
        parameters: params(j.environment()),
        input_uris: j
            .transform_input()
            .and_then(|i| i.data_source()?.s3_data_source()?.s3_uri())
            .map(|u| vec![u.to_owned()])
            .unwrap_or_default(),
        creation_time: time(j.creation_time()),
        start_time: time(j.transform_start_time()),
        end_time: time(j.transform_end_time()),
        ..JobFacts::default()
    }
}

impl Logs for JobAccounts {
    async fn streams(
        &self,
        target: &Target,
        group: &str,
        prefix: &str,
    ) -> Result<Vec<StreamInfo>, AwsError> {
        let logs = self.clients.get(target).await.logs;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_STREAM_PAGES {
            // With a name prefix the order must be by name; the budget sorts by recency.
            let page = logs
                .describe_log_streams()
                .log_group_name(group)
                .log_stream_name_prefix(prefix)
                .set_next_token(token.take())
                .send()
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let err = from_sdk("DescribeLogStreams", &e);
                    if err.kind == ErrorKind::NotFound {
                        // No log group: the job failed before any container logged.
                        return Ok(out);
                    }
                    return Err(err);
                }
            };
            out.extend(page.log_streams().iter().filter_map(|s| {
                Some(StreamInfo {
                    name: s.log_stream_name()?.to_owned(),
                    last_event_ms: s.last_event_timestamp().or(s.creation_time()),
                })
            }));
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn page(
        &self,
        target: &Target,
        group: &str,
        stream: &str,
        limit: usize,
        older: Option<String>,
    ) -> Result<LogPage, AwsError> {
        let logs = self.clients.get(target).await.logs;
        let out = logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(false)
            .limit(i32::try_from(limit).unwrap_or(10_000))
            .set_next_token(older)
            .send()
            .await
            .map_err(|e| from_sdk("GetLogEvents", &e))?;
        Ok(LogPage {
            events: out
                .events()
                .iter()
                .map(|e| LogEvent {
                    timestamp: e.timestamp(),
                    message: e.message().unwrap_or_default().to_owned(),
                })
                .collect(),
            older: out.next_backward_token().map(str::to_owned),
        })
    }
}
