//! SageMaker events as EventBridge delivers them.
//!
//! We do not use `aws_lambda_events::eventbridge::EventBridgeEvent`: it requires `time` to be an
//! RFC 3339 string, and replayed or hand-made events carry epoch numbers. Our envelope takes any
//! time shape, and the `detail` is typed from a table keyed by `detail-type`. An unknown
//! detail-type is [`Detail::Other`], never an error.

use crate::serde_util::{lenient_f64, lenient_string, lenient_u64, string_map, tags};
use crate::status::Status;
use crate::time::flexible;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub const SAGEMAKER_SOURCE: &str = "aws.sagemaker";
/// `source` of a job state change the sweep re-emits because SageMaker's never arrived
/// (`sagewatch::sweep`): the rules of every other consumer match it beside `aws.sagemaker`.
pub const REEMIT_SOURCE: &str = "sagewatch.sweep";
/// The detail field of a re-emitted event that names the job's own account: PutEvents
/// stamps the sender's account on the envelope, which is the job's only for home jobs.
pub const REEMIT_MARKER: &str = "SagewatchReconciled";
pub const SAGEMAKER_EVENT_SOURCE: &str = "sagemaker.amazonaws.com";
pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// The EventBridge envelope around a SageMaker detail.
#[derive(Debug, Clone)]
pub struct SageMakerEvent {
    pub id: Option<String>,
    pub detail_type: String,
    pub source: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub resources: Vec<String>,
    pub detail: Detail,
}

#[derive(Debug, Clone)]
pub enum Detail {
    TrainingJob(Box<TrainingJob>),
    ProcessingJob(Box<ProcessingJob>),
    TransformJob(Box<TransformJob>),
    HyperParameterTuningJob(Box<HyperParameterTuningJob>),
    Endpoint(Box<Endpoint>),
    EndpointDeployment(Box<EndpointDeployment>),
    PipelineExecution(Box<PipelineExecution>),
    PipelineStep(Box<PipelineStep>),
    ModelPackage(Box<ModelPackage>),
    ApiCall(Box<CloudTrailApiCall>),
    /// A detail-type we do not model (or CloudTrail from another service): kept as raw JSON.
    Other(Value),
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is not a JSON object with a string `detail-type`: {0}")]
    Envelope(String),
    #[error("`detail` of a {detail_type} event does not have the expected shape: {reason}")]
    Detail { detail_type: String, reason: String },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    source: String,
    #[serde(default, deserialize_with = "lenient_string")]
    account: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    region: Option<String>,
    #[serde(default, deserialize_with = "flexible")]
    time: Option<DateTime<Utc>>,
    #[serde(default)]
    resources: Option<Vec<Value>>,
    #[serde(default)]
    detail: Value,
}

type DetailParser = fn(Value) -> Result<Detail, serde_json::Error>;

fn typed<T: DeserializeOwned>(
    wrap: fn(Box<T>) -> Detail,
) -> impl Fn(Value) -> Result<Detail, serde_json::Error> {
    move |v| serde_json::from_value::<T>(v).map(|t| wrap(Box::new(t)))
}

/// detail-type → parser. The single place that says which detail-types we model.
const DETAIL_TYPES: &[(&str, DetailParser)] = &[
    ("SageMaker Training Job State Change", |v| {
        typed(Detail::TrainingJob)(v)
    }),
    ("SageMaker Processing Job State Change", |v| {
        typed(Detail::ProcessingJob)(v)
    }),
    ("SageMaker Transform Job State Change", |v| {
        typed(Detail::TransformJob)(v)
    }),
    ("SageMaker HyperParameter Tuning Job State Change", |v| {
        typed(Detail::HyperParameterTuningJob)(v)
    }),
    ("SageMaker Endpoint State Change", |v| {
        typed(Detail::Endpoint)(v)
    }),
    ("SageMaker Endpoint Deployment State Change", |v| {
        typed(Detail::EndpointDeployment)(v)
    }),
    (
        "SageMaker Model Building Pipeline Execution Status Change",
        |v| typed(Detail::PipelineExecution)(v),
    ),
    (
        "SageMaker Model Building Pipeline Execution Step Status Change",
        |v| typed(Detail::PipelineStep)(v),
    ),
    ("SageMaker Model Package State Change", |v| {
        typed(Detail::ModelPackage)(v)
    }),
];

/// The detail-types this crate types, for documentation, rules and tests.
pub fn modelled_detail_types() -> impl Iterator<Item = &'static str> {
    DETAIL_TYPES
        .iter()
        .map(|(name, _)| *name)
        .chain([CLOUDTRAIL_DETAIL_TYPE])
}

impl SageMakerEvent {
    pub fn from_value(value: Value) -> Result<Self, EventError> {
        let env: Envelope =
            serde_json::from_value(value).map_err(|e| EventError::Envelope(e.to_string()))?;
        let account = match reemitted_account(&env.source, &env.detail) {
            Some(a) => Some(a),
            None => env.account,
        };
        let detail = parse_detail(&env.detail_type, env.detail)?;
        Ok(SageMakerEvent {
            id: env.id,
            detail_type: env.detail_type,
            source: env.source,
            account,
            region: env.region,
            time: env.time,
            resources: env
                .resources
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            detail,
        })
    }

    /// Re-emitted by the sweep (its SageMaker event was lost), not sent by SageMaker.
    pub fn is_reconciled(&self) -> bool {
        self.source == REEMIT_SOURCE
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, EventError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| EventError::Envelope(e.to_string()))?;
        Self::from_value(value)
    }
}

/// The job's account named by a re-emitted event (12 digits), else `None` (the envelope's).
fn reemitted_account(source: &str, detail: &Value) -> Option<String> {
    if source != REEMIT_SOURCE {
        return None;
    }
    let account = detail.get(REEMIT_MARKER)?.get("account")?.as_str()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}

fn parse_detail(detail_type: &str, detail: Value) -> Result<Detail, EventError> {
    let wrap_err = |e: serde_json::Error| EventError::Detail {
        detail_type: detail_type.to_owned(),
        reason: e.to_string(),
    };
    if detail_type == CLOUDTRAIL_DETAIL_TYPE {
        let is_sagemaker =
            detail.get("eventSource").and_then(Value::as_str) == Some(SAGEMAKER_EVENT_SOURCE);
        if !is_sagemaker {
            return Ok(Detail::Other(detail));
        }
        return serde_json::from_value::<CloudTrailApiCall>(detail)
            .map(|d| Detail::ApiCall(Box::new(d)))
            .map_err(wrap_err);
    }
    match DETAIL_TYPES.iter().find(|(name, _)| *name == detail_type) {
        Some((_, parse)) => parse(detail).map_err(wrap_err),
        None => Ok(Detail::Other(detail)),
    }
}

// ---- Shared pieces of job details -------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResourceConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub instance_type: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub instance_count: Option<u64>,
    #[serde(rename = "VolumeSizeInGB", deserialize_with = "lenient_u64")]
    pub volume_size_in_gb: Option<u64>,
    /// Heterogeneous clusters: each group has its own type and count.
    pub instance_groups: Vec<InstanceGroup>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceGroup {
    #[serde(deserialize_with = "lenient_string")]
    pub instance_group_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub instance_type: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub instance_count: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StatusTransition {
    pub status: Option<Status>,
    #[serde(deserialize_with = "flexible")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_string")]
    pub status_message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AlgorithmSpecification {
    #[serde(deserialize_with = "lenient_string")]
    pub training_image: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub algorithm_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub training_input_mode: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Channel {
    #[serde(deserialize_with = "lenient_string")]
    pub channel_name: Option<String>,
    pub data_source: Option<Value>,
}

impl Channel {
    /// The S3 URI of an S3 data source, wherever SageMaker nested it.
    pub fn s3_uri(&self) -> Option<&str> {
        self.data_source
            .as_ref()?
            .get("S3DataSource")?
            .get("S3Uri")?
            .as_str()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StoppingCondition {
    #[serde(deserialize_with = "lenient_u64")]
    pub max_runtime_in_seconds: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub max_wait_time_in_seconds: Option<u64>,
}

// ---- Training ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TrainingJob {
    #[serde(deserialize_with = "lenient_string")]
    pub training_job_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub training_job_arn: Option<String>,
    pub training_job_status: Option<Status>,
    pub secondary_status: Option<Status>,
    #[serde(deserialize_with = "lenient_string")]
    pub failure_reason: Option<String>,
    #[serde(deserialize_with = "string_map")]
    pub hyper_parameters: BTreeMap<String, String>,
    pub algorithm_specification: AlgorithmSpecification,
    #[serde(deserialize_with = "lenient_string")]
    pub role_arn: Option<String>,
    pub input_data_config: Vec<Channel>,
    pub resource_config: ResourceConfig,
    pub stopping_condition: StoppingCondition,
    #[serde(deserialize_with = "flexible")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub training_start_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub training_end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub last_modified_time: Option<DateTime<Utc>>,
    pub secondary_status_transitions: Vec<StatusTransition>,
    #[serde(deserialize_with = "lenient_u64")]
    pub training_time_in_seconds: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub billable_time_in_seconds: Option<u64>,
    #[serde(deserialize_with = "tags")]
    pub tags: BTreeMap<String, String>,
}

// ---- Processing -------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProcessingJob {
    #[serde(deserialize_with = "lenient_string")]
    pub processing_job_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub processing_job_arn: Option<String>,
    pub processing_job_status: Option<Status>,
    #[serde(deserialize_with = "lenient_string")]
    pub exit_message: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub failure_reason: Option<String>,
    pub processing_resources: ProcessingResources,
    pub app_specification: Option<Value>,
    pub processing_inputs: Vec<Value>,
    #[serde(deserialize_with = "string_map")]
    pub environment: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient_string")]
    pub role_arn: Option<String>,
    pub stopping_condition: StoppingCondition,
    #[serde(deserialize_with = "flexible")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub processing_start_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub processing_end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub last_modified_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "tags")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProcessingResources {
    pub cluster_config: ResourceConfig,
}

// ---- Transform --------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TransformJob {
    #[serde(deserialize_with = "lenient_string")]
    pub transform_job_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub transform_job_arn: Option<String>,
    pub transform_job_status: Option<Status>,
    #[serde(deserialize_with = "lenient_string")]
    pub failure_reason: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub model_name: Option<String>,
    pub transform_resources: ResourceConfig,
    pub transform_input: Option<Value>,
    #[serde(deserialize_with = "flexible")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub transform_start_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub transform_end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "tags")]
    pub tags: BTreeMap<String, String>,
}

// ---- Hyperparameter tuning --------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HyperParameterTuningJob {
    #[serde(deserialize_with = "lenient_string")]
    pub hyper_parameter_tuning_job_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub hyper_parameter_tuning_job_arn: Option<String>,
    pub hyper_parameter_tuning_job_status: Option<Status>,
    #[serde(deserialize_with = "lenient_string")]
    pub failure_reason: Option<String>,
    pub training_job_status_counters: BTreeMap<String, Value>,
    pub objective_status_counters: BTreeMap<String, Value>,
    pub best_training_job: Option<BestTrainingJob>,
    #[serde(deserialize_with = "flexible")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub hyper_parameter_tuning_end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub last_modified_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "tags")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BestTrainingJob {
    #[serde(deserialize_with = "lenient_string")]
    pub training_job_name: Option<String>,
    pub training_job_status: Option<Status>,
    pub final_hyper_parameter_tuning_job_objective_metric: Option<ObjectiveMetric>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ObjectiveMetric {
    #[serde(deserialize_with = "lenient_string")]
    pub metric_name: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    pub value: Option<f64>,
    #[serde(rename = "Type", deserialize_with = "lenient_string")]
    pub kind: Option<String>,
}

// ---- Endpoints --------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Endpoint {
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint_arn: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint_config_name: Option<String>,
    pub endpoint_status: Option<Status>,
    #[serde(deserialize_with = "lenient_string")]
    pub failure_reason: Option<String>,
    pub production_variants: Vec<Value>,
    #[serde(deserialize_with = "flexible")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub last_modified_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "tags")]
    pub tags: BTreeMap<String, String>,
}

/// Blue/green and rolling deployments: the endpoint plus the deployment in flight, whose
/// variants report stages such as `Baking` in `PendingDeploymentSummary`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointDeployment {
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint_arn: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint_config_name: Option<String>,
    pub endpoint_status: Option<Status>,
    #[serde(deserialize_with = "lenient_string")]
    pub failure_reason: Option<String>,
    pub production_variants: Vec<Value>,
    pub pending_deployment_summary: Option<Value>,
    #[serde(deserialize_with = "flexible")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub last_modified_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "tags")]
    pub tags: BTreeMap<String, String>,
}

impl EndpointDeployment {
    /// The newest stage of each variant of the pending deployment (`Baking`, `Creating`, …).
    pub fn pending_variant_stages(&self) -> Vec<(String, Status)> {
        let variants = self
            .pending_deployment_summary
            .as_ref()
            .and_then(|p| p.get("ProductionVariants"))
            .and_then(Value::as_array);
        variants
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let name = v.get("VariantName")?.as_str()?.to_owned();
                let last = v.get("VariantStatus")?.as_array()?.last()?;
                Some((name, Status::new(last.get("Status")?.as_str()?)))
            })
            .collect()
    }

    /// The endpoint config the deployment in flight is rolling out, if the event names one.
    pub fn pending_config(&self) -> Option<&str> {
        self.pending_deployment_summary
            .as_ref()?
            .get("EndpointConfigName")?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    /// When the deployment in flight started (`PendingDeploymentSummary.StartTime`).
    pub fn pending_start(&self) -> Option<DateTime<Utc>> {
        let start = self.pending_deployment_summary.as_ref()?.get("StartTime")?;
        crate::time::parse_timestamp(start)
    }

    /// Every `StatusMessage` of every variant stage the event carries (current and pending
    /// variants), in order: the text a person reading the console would see.
    pub fn status_messages(&self) -> Vec<String> {
        let pending = self
            .pending_deployment_summary
            .as_ref()
            .and_then(|p| p.get("ProductionVariants"))
            .and_then(Value::as_array);
        self.production_variants
            .iter()
            .chain(pending.into_iter().flatten())
            .filter_map(|v| v.get("VariantStatus")?.as_array())
            .flatten()
            .filter_map(|s| s.get("StatusMessage")?.as_str())
            .filter(|m| !m.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }
}

// ---- Pipelines (camelCase details) ------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PipelineExecution {
    #[serde(deserialize_with = "lenient_string")]
    pub pipeline_arn: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub pipeline_execution_arn: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub pipeline_execution_display_name: Option<String>,
    pub current_pipeline_execution_status: Option<Status>,
    pub previous_pipeline_execution_status: Option<Status>,
    #[serde(deserialize_with = "flexible")]
    pub execution_start_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub execution_end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_string")]
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PipelineStep {
    #[serde(deserialize_with = "lenient_string")]
    pub pipeline_arn: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub pipeline_execution_arn: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub step_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub step_type: Option<String>,
    pub current_step_status: Option<Status>,
    pub previous_step_status: Option<Status>,
    #[serde(deserialize_with = "flexible")]
    pub step_start_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub step_end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_string")]
    pub failure_reason: Option<String>,
    pub metadata: Option<Value>,
}

// ---- Model registry ---------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ModelPackage {
    #[serde(deserialize_with = "lenient_string")]
    pub model_package_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub model_package_group_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub model_package_arn: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub model_package_version: Option<u64>,
    pub model_package_status: Option<Status>,
    pub model_approval_status: Option<Status>,
    #[serde(deserialize_with = "flexible")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "flexible")]
    pub last_modified_time: Option<DateTime<Utc>>,
}

// ---- CloudTrail -------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CloudTrailApiCall {
    #[serde(deserialize_with = "lenient_string")]
    pub event_version: Option<String>,
    pub user_identity: UserIdentity,
    #[serde(deserialize_with = "flexible")]
    pub event_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_string")]
    pub event_source: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub event_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub aws_region: Option<String>,
    #[serde(rename = "sourceIPAddress", deserialize_with = "lenient_string")]
    pub source_ip_address: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub user_agent: Option<String>,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    #[serde(deserialize_with = "lenient_string")]
    pub error_code: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub error_message: Option<String>,
    #[serde(rename = "requestID", deserialize_with = "lenient_string")]
    pub request_id: Option<String>,
    #[serde(rename = "eventID", deserialize_with = "lenient_string")]
    pub event_id: Option<String>,
    pub read_only: Option<bool>,
    #[serde(deserialize_with = "lenient_string")]
    pub event_type: Option<String>,
    pub management_event: Option<bool>,
    #[serde(deserialize_with = "lenient_string")]
    pub recipient_account_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub event_category: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserIdentity {
    #[serde(rename = "type", deserialize_with = "lenient_string")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub principal_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub arn: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub account_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub user_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub invoked_by: Option<String>,
    pub session_context: Option<Value>,
}

// ---- Uniform view over the job kinds ----------------------------------------------------

/// The job kinds that run on instances and end in Completed / Failed / Stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    Training,
    Processing,
    Transform,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Training => "training",
            JobType::Processing => "processing",
            JobType::Transform => "transform",
        }
    }

    /// CloudWatch namespace (host metrics) and log group share this suffix.
    pub fn sagemaker_suffix(self) -> &'static str {
        match self {
            JobType::Training => "TrainingJobs",
            JobType::Processing => "ProcessingJobs",
            JobType::Transform => "TransformJobs",
        }
    }

    pub fn log_group(self) -> String {
        format!("/aws/sagemaker/{}", self.sagemaker_suffix())
    }

    pub fn metrics_namespace(self) -> String {
        format!("/aws/sagemaker/{}", self.sagemaker_suffix())
    }
}

/// What every job kind has in common, borrowed from the typed detail.
#[derive(Debug, Clone)]
pub struct JobSummary<'a> {
    pub job_type: JobType,
    pub name: Option<&'a str>,
    pub arn: Option<&'a str>,
    pub status: Option<&'a Status>,
    pub failure_reason: Option<&'a str>,
    pub instance_type: Option<&'a str>,
    pub instance_count: Option<u64>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub creation_time: Option<DateTime<Utc>>,
    pub billable_seconds: Option<u64>,
    pub tags: &'a BTreeMap<String, String>,
}

impl Detail {
    pub fn job(&self) -> Option<JobSummary<'_>> {
        match self {
            Detail::TrainingJob(j) => Some(JobSummary {
                job_type: JobType::Training,
                name: j.training_job_name.as_deref(),
                arn: j.training_job_arn.as_deref(),
                status: j.training_job_status.as_ref(),
                failure_reason: j.failure_reason.as_deref(),
                instance_type: j.resource_config.instance_type.as_deref().or_else(|| {
                    j.resource_config
                        .instance_groups
                        .first()
                        .and_then(|g| g.instance_type.as_deref())
                }),
                instance_count: j.resource_config.instance_count.or_else(|| {
                    let groups = &j.resource_config.instance_groups;
                    (!groups.is_empty())
                        .then(|| groups.iter().filter_map(|g| g.instance_count).sum())
                }),
                start_time: j.training_start_time,
                end_time: j.training_end_time,
                creation_time: j.creation_time,
                billable_seconds: j.billable_time_in_seconds,
                tags: &j.tags,
            }),
            Detail::ProcessingJob(j) => Some(JobSummary {
                job_type: JobType::Processing,
                name: j.processing_job_name.as_deref(),
                arn: j.processing_job_arn.as_deref(),
                status: j.processing_job_status.as_ref(),
                failure_reason: j.failure_reason.as_deref().or(j.exit_message.as_deref()),
                instance_type: j
                    .processing_resources
                    .cluster_config
                    .instance_type
                    .as_deref(),
                instance_count: j.processing_resources.cluster_config.instance_count,
                start_time: j.processing_start_time,
                end_time: j.processing_end_time,
                creation_time: j.creation_time,
                billable_seconds: None,
                tags: &j.tags,
            }),
            Detail::TransformJob(j) => Some(JobSummary {
                job_type: JobType::Transform,
                name: j.transform_job_name.as_deref(),
                arn: j.transform_job_arn.as_deref(),
                status: j.transform_job_status.as_ref(),
                failure_reason: j.failure_reason.as_deref(),
                instance_type: j.transform_resources.instance_type.as_deref(),
                instance_count: j.transform_resources.instance_count,
                start_time: j.transform_start_time,
                end_time: j.transform_end_time,
                creation_time: j.creation_time,
                billable_seconds: None,
                tags: &j.tags,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(detail_type: &str, time: Value, detail: Value) -> Value {
        json!({
            "version": "0", "id": "abc", "detail-type": detail_type, "source": "aws.sagemaker",
            "account": "123456789012", "time": time, "region": "us-east-1", "resources": [],
            "detail": detail
        })
    }

    #[test]
    fn envelope_time_may_be_a_number_or_string() {
        for t in [
            json!(1556928000000_i64),
            json!("1556928000000"),
            json!("2019-05-04T00:00:00Z"),
        ] {
            let e = SageMakerEvent::from_value(envelope("Whatever Else", t.clone(), json!({})))
                .unwrap();
            assert_eq!(e.time.map(|t| t.timestamp()), Some(1556928000), "{t}");
            assert!(matches!(e.detail, Detail::Other(_)));
        }
    }

    #[test]
    fn training_job_with_quirks() {
        let e = SageMakerEvent::from_value(envelope(
            "SageMaker Training Job State Change",
            json!("2019-05-04T00:00:00Z"),
            json!({
                "TrainingJobName": "train-42",
                "TrainingJobStatus": "FAILED",
                "SecondaryStatus": "Failed",
                "FailureReason": "AlgorithmError: boom",
                "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": "2", "VolumeSizeInGB": 30},
                "HyperParameters": {"epochs": 3, "lr": "0.1"},
                "TrainingStartTime": 1556928000000_i64,
                "TrainingEndTime": "1556928100000",
                "BillableTimeInSeconds": 100,
                "Tags": {"sagewatch:auto-stop": "true"},
                "SomethingNew": {"ignored": true}
            }),
        ))
        .unwrap();
        let job = e.detail.job().unwrap();
        assert_eq!(job.name, Some("train-42"));
        assert_eq!(job.status.map(Status::as_str), Some("Failed"));
        assert_eq!(job.instance_count, Some(2));
        assert_eq!(job.instance_type, Some("ml.p3.2xlarge"));
        assert_eq!(
            job.end_time.unwrap().timestamp() - job.start_time.unwrap().timestamp(),
            100
        );
        assert_eq!(
            job.tags.get("sagewatch:auto-stop").map(String::as_str),
            Some("true")
        );
        let Detail::TrainingJob(t) = &e.detail else {
            panic!("not training")
        };
        assert_eq!(
            t.hyper_parameters.get("epochs").map(String::as_str),
            Some("3")
        );
    }

    #[test]
    fn poison_times_become_none_and_the_event_survives() {
        // Near chrono's maximum (`DateTime + TimeDelta overflowed` downstream), before 2000,
        // and a week ahead: each field is dropped, the rest of the event is kept.
        let week_ahead = (chrono::Utc::now() + chrono::TimeDelta::days(7)).to_rfc3339();
        let e = SageMakerEvent::from_value(envelope(
            "SageMaker Training Job State Change",
            json!(8_210_266_876_799_999_i64),
            json!({
                "TrainingJobName": "train-poison",
                "TrainingStartTime": 8_210_266_876_799_999_i64,
                "TrainingEndTime": "9999-12-31T23:59:59Z",
                "CreationTime": "1970-01-01T00:00:00Z",
                "LastModifiedTime": week_ahead,
                "SecondaryStatusTransitions": [{"Status": "Training", "StartTime": 1e300}]
            }),
        ))
        .unwrap();
        assert_eq!(e.time, None);
        let job = e.detail.job().unwrap();
        assert_eq!(job.name, Some("train-poison"));
        assert_eq!(
            (job.start_time, job.end_time, job.creation_time),
            (None, None, None)
        );
        let Detail::TrainingJob(t) = &e.detail else {
            panic!("not training")
        };
        assert_eq!(t.last_modified_time, None);
        assert_eq!(t.secondary_status_transitions[0].start_time, None);
    }

    #[test]
    fn cloudtrail_from_other_services_is_other() {
        let e = SageMakerEvent::from_value(json!({
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
            "detail": {"eventSource": "s3.amazonaws.com", "eventName": "PutObject"}
        }))
        .unwrap();
        assert!(matches!(e.detail, Detail::Other(_)));
    }

    #[test]
    fn a_wrong_shape_is_a_typed_error_not_a_panic() {
        let err = SageMakerEvent::from_value(envelope(
            "SageMaker Training Job State Change",
            json!(null),
            json!({"ResourceConfig": "not an object"}),
        ))
        .unwrap_err();
        assert!(matches!(err, EventError::Detail { .. }), "{err}");
        assert!(SageMakerEvent::from_value(json!([1, 2])).is_err());
        assert!(SageMakerEvent::from_slice(b"\xff\xfe").is_err());
    }
}
