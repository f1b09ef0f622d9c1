"""The control API's SageMaker half: seed and read jobs in states that AWS APIs cannot
create (a Failed job with its FailureReason, a job that trained for an hour, another account's
job). emulator.py routes `POST`/`GET /_sagewatch/sagemaker/<kind>-jobs/<name>` here; the
request and answer formats are in infra/local/README.md ("Control API").

Jobs are written straight into moto's backend with AWS's field names, checked against
botocore's Describe<Kind>Job output shape (unknown fields and enum values are refused), and
kept self-consistent where the patch leaves fields out (_settle).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from moto.sagemaker.models import sagemaker_backends

# KINDS is re-exported: the control routes check the <kind> of a path against it.
from sagemaker_patches import KINDS, LOCK, NOT_FOUND, Kind, mark_created, service_model, utc_now

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_REGION", "KINDS", "ControlError", "describe", "patch_endpoint", "seed"]


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _parse_time(value: Any, field: str) -> dt.datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).replace(tzinfo=None)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ControlError(400, f"{field}: not epoch seconds or ISO-8601: {value!r}")
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return parsed
    raise ControlError(400, f"{field}: not epoch seconds or ISO-8601: {value!r}")


def _convert_in(value: Any, shape: Any, field: str) -> Any:
    """JSON patch value -> moto attribute value (timestamps become datetimes)."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "timestamp":
        return _parse_time(value, field)
    if kind == "structure" and isinstance(value, dict):
        return {k: _convert_in(v, shape.members.get(k), f"{field}.{k}") for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_convert_in(v, shape.member, field) for v in value]
    if kind == "string" and shape.enum and value not in shape.enum:
        raise ControlError(400, f"{field}: {value!r} is not one of {list(shape.enum)}")
    return value


def _convert_out(value: Any, shape: Any) -> Any:
    """Describe dict -> JSON (timestamps as epoch seconds, like awsJson)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return aware.timestamp()
    if isinstance(value, dict):
        members = getattr(shape, "members", None) if shape is not None else None
        inner = getattr(shape, "value", None) if shape is not None and shape.type_name == "map" else None
        return {
            k: _convert_out(v, members.get(k) if members else inner)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [_convert_out(v, getattr(shape, "member", None)) for v in value]
    return value


def _attr_name(job: Any, field: str) -> str:
    for attr in job.__dict__:
        aws = job.camelCase(attr) if "_" in attr else attr[:1].upper() + attr[1:]
        if aws == field:
            return attr
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", field).lower()


def _defaults(kind: Kind, name: str, account: str, region: str) -> dict[str, Any]:
    bucket = f"s3://sagemaker-{region}-{account}"
    role = f"arn:aws:iam::{account}:role/SageMakerExecutionRole"
    image = f"683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:1.7-1"
    if kind.key == "training":
        return dict(
            training_job_name=name,
            hyper_parameters={},
            algorithm_specification={"TrainingImage": image, "TrainingInputMode": "File"},
            role_arn=role,
            input_data_config=[{
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": f"{bucket}/{name}/input/train",
                    "S3DataDistributionType": "FullyReplicated"}},
            }],
            output_data_config={"S3OutputPath": bucket},
            resource_config={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            vpc_config=None,
            stopping_condition={"MaxRuntimeInSeconds": 86400},
            tags=[],
            enable_network_isolation=False,
            enable_inter_container_traffic_encryption=False,
            enable_managed_spot_training=False,
            checkpoint_config=None,
            debug_hook_config=None,
            debug_rule_configurations=None,
            tensor_board_output_config=None,
            experiment_config=None,
        )
    if kind.key == "processing":
        return dict(
            app_specification={"ImageUri": image},
            experiment_config=None,
            network_config=None,
            processing_inputs=[],
            processing_job_name=name,
            processing_output_config={"Outputs": []},
            role_arn=role,
            stopping_condition={"MaxRuntimeInSeconds": 86400},
            tags=[],
        )
    return dict(
        transform_job_name=name,
        model_name=f"{name}-model",
        max_concurrent_transforms=None,
        model_client_config=None,
        max_payload_in_mb=None,
        batch_strategy=None,
        environment=None,
        transform_input={"DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"{bucket}/{name}/input"}}, "ContentType": "text/csv"},
        transform_output={"S3OutputPath": f"{bucket}/{name}/output"},
        data_capture_config=None,
        transform_resources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        data_processing=None,
        tags=[],
        experiment_config=None,
    )


TERMINAL = {"Completed", "Failed", "Stopped"}


def seed(kind_key: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    kind = KINDS[kind_key]
    patch = dict(patch)
    region = patch.pop("Region", DEFAULT_REGION)
    account = patch.pop("AccountId", DEFAULT_ACCOUNT)
    if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name):
        raise ControlError(400, f"invalid {kind.noun} name {name!r}")
    shape = kind.output_shape()
    allowed = set(shape.members) | {"Tags", "LastModifiedTime"}
    unknown = sorted(set(patch) - allowed)
    if unknown:
        raise ControlError(400, f"unknown {kind.prefix}Job fields: {unknown}")
    with LOCK:
        backend = sagemaker_backends[account][region]
        job = kind.jobs(backend).get(name)
        if job is None:
            job = getattr(backend, f"create_{kind.key}_job")(**_defaults(kind, name, account, region))
            mark_created(kind, job)
            if kind.key == "training":
                job.algorithm_specification.pop("MetricDefinitions", None)
                job.secondary_status = "Training"
                job.training_start_time = job.creation_time
            elif kind.key == "processing":
                job.processing_resources = {"ClusterConfig": {
                    "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}}
                job.processing_start_time = job.creation_time
            else:
                job.transform_start_time = job.creation_time
        for field, value in patch.items():
            if field == "Tags":
                job.tags = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in value or []]
                continue
            member = shape.members.get(field)
            if field == "LastModifiedTime" and member is None:
                member = service_model().shape_for("Timestamp")
            setattr(job, _attr_name(job, field), _convert_in(value, member, field))
        _settle(kind, job, patch)
        return describe(kind_key, name, region, account)


def _settle(kind: Kind, job: Any, patch: dict[str, Any]) -> None:
    """Keep the seeded job self-consistent where the patch left fields out."""
    now = utc_now()
    status = getattr(job, kind.status_attr)
    start = f"{kind.prefix}StartTime"
    end = f"{kind.prefix}EndTime"
    if status in TERMINAL and end not in patch and getattr(job, kind.end_attr, None) is None:
        setattr(job, kind.end_attr, now)
    if status == "InProgress" and end not in patch:
        setattr(job, kind.end_attr, None)
    if status != "InProgress" and start not in patch and getattr(job, kind.start_attr, None) is None:
        setattr(job, kind.start_attr, job.creation_time)
    if kind.key == "training" and kind.status_field in patch and "SecondaryStatus" not in patch:
        job.secondary_status = {"InProgress": "Training"}.get(status, status)
    if "LastModifiedTime" not in patch:
        job.last_modified_time = now


def describe(kind_key: str, name: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> dict[str, Any]:
    kind = KINDS[kind_key]
    backend = sagemaker_backends[account][region]
    with LOCK:
        if name not in kind.jobs(backend):
            raise ControlError(404, NOT_FOUND)
        raw = getattr(backend, f"describe_{kind.key}_job")(name)
        shape = kind.output_shape()
        doc = {k: v for k, v in raw.items() if k in shape.members}
        return _convert_out(doc, shape)


# Endpoints: moto creates them InService with CreationTime now; an idle check needs endpoints
# older than its look-back. Only the times can be set (status comes from the SageMaker calls).
ENDPOINT_TIMES = {"CreationTime": "creation_time", "LastModifiedTime": "last_modified_time"}


def patch_endpoint(name: str, patch: dict[str, Any], region: str = DEFAULT_REGION,
                   account: str = DEFAULT_ACCOUNT) -> dict[str, Any]:
    """Sets an existing endpoint's CreationTime / LastModifiedTime (epoch seconds or ISO-8601)."""
    unknown = sorted(set(patch) - set(ENDPOINT_TIMES))
    if unknown:
        raise ControlError(400, f"only {sorted(ENDPOINT_TIMES)} can be set, not {unknown}")
    backend = sagemaker_backends[account][region]
    with LOCK:
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ControlError(404, f"no endpoint {name!r} in {account}/{region}")
        for field, attr in ENDPOINT_TIMES.items():
            if field in patch:
                setattr(endpoint, attr, _parse_time(patch[field], field))
        return {"EndpointName": name, **{f: getattr(endpoint, a).isoformat() + "Z" for f, a in ENDPOINT_TIMES.items()}}


# --- failure-enricher (issue #14): failed endpoints, pipeline executions, tuning jobs -------

ENDPOINT_STATE_FIELDS = {"EndpointStatus", "FailureReason", "LastModifiedTime", "Variants",
                         "LastDeploymentConfig"}


def _check_members(value: Any, shape: Any, field: str) -> None:
    """Every key of a structure is a member of its shape (a typo must not pass silently)."""
    if shape is None:
        return
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            raise ControlError(400, f"{field} must be an object ({shape.name})")
        for k, v in value.items():
            if k not in shape.members:
                raise ControlError(400, f"{field}: {k!r} is not a member of {shape.name}")
            _check_members(v, shape.members[k], f"{field}.{k}")
    elif shape.type_name == "list":
        if not isinstance(value, list):
            raise ControlError(400, f"{field} must be a list")
        for v in value:
            _check_members(v, shape.member, field)


def seed_endpoint_state(name: str, patch: dict[str, Any]) -> dict[str, Any]:
    """An endpoint in a state SageMaker calls cannot make (moto creates them InService):
    `EndpointStatus` (checked against the model), `FailureReason`, `LastModifiedTime`,
    `Variants` (names, default ["AllTraffic"]; only when the endpoint is created here),
    `LastDeploymentConfig` (a DeploymentConfig as UpdateEndpoint takes it: the auto-rollback
    alarms of a guarded deployment, which moto does not keep).
    Creates the model, the config and the endpoint when missing."""
    patch = dict(patch)
    region = patch.pop("Region", DEFAULT_REGION)
    account = patch.pop("AccountId", DEFAULT_ACCOUNT)
    unknown = sorted(set(patch) - ENDPOINT_STATE_FIELDS)
    if unknown:
        raise ControlError(400, f"only {sorted(ENDPOINT_STATE_FIELDS)} can be set, not {unknown}")
    if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name):
        raise ControlError(400, f"invalid endpoint name {name!r}")
    shape = service_model().operation_model("DescribeEndpoint").output_shape
    status = patch.get("EndpointStatus")
    if status is not None:
        _convert_in(status, shape.members["EndpointStatus"], "EndpointStatus")
    deployment = patch.get("LastDeploymentConfig")
    if deployment is not None:
        if not isinstance(deployment, dict):
            raise ControlError(400, "LastDeploymentConfig must be an object (a DeploymentConfig)")
        member = shape.members["LastDeploymentConfig"]
        _check_members(deployment, member, "LastDeploymentConfig")
        deployment = _convert_in(deployment, member, "LastDeploymentConfig")
    backend = sagemaker_backends[account][region]
    with LOCK:
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            model = f"{name}-model"
            if model not in backend._models:
                backend.create_model(model, f"arn:aws:iam::{account}:role/SageMakerExecutionRole",
                                     {"Image": f"763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-inference:2.1-cpu"},
                                     None, None, None)
            variants = [{"VariantName": v, "ModelName": model, "InitialInstanceCount": 1,
                         "InstanceType": "ml.m5.xlarge", "InitialVariantWeight": 1.0}
                        for v in patch.get("Variants") or ["AllTraffic"]]
            config = f"{name}-config"
            if config not in backend.endpoint_configs:
                backend.create_endpoint_config(config, variants, {}, {}, [], "")
            endpoint = backend.create_endpoint(name, config, [])
        if status is not None:
            endpoint.endpoint_status = status
        if "FailureReason" in patch:
            endpoint.failure_reason = patch["FailureReason"]
        if deployment is not None:
            # moto's describe_endpoint answers every attribute, camel-cased.
            endpoint.last_deployment_config = deployment
        endpoint.last_modified_time = _parse_time(patch["LastModifiedTime"], "LastModifiedTime") \
            if "LastModifiedTime" in patch else utc_now()
        return _convert_out(backend.describe_endpoint(name), shape)


def seed_pipeline_execution(pipeline: str, execution_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    """A pipeline execution (the pipeline created when missing) with its status, FailureReason
    and `Steps`: PipelineExecutionStep objects as ListPipelineExecutionSteps returns them
    (AWS field names, checked against the model), oldest first."""
    patch = dict(patch)
    region = patch.pop("Region", DEFAULT_REGION)
    account = patch.pop("AccountId", DEFAULT_ACCOUNT)
    allowed = {"PipelineExecutionStatus", "FailureReason", "Steps"}
    unknown = sorted(set(patch) - allowed)
    if unknown:
        raise ControlError(400, f"only {sorted(allowed)} can be set, not {unknown}")
    for n, what in ((pipeline, "pipeline"), (execution_id, "execution id")):
        if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,80}", n):
            raise ControlError(400, f"invalid {what} {n!r}")
    model = service_model()
    step_shape = model.operation_model("ListPipelineExecutionSteps").output_shape \
        .members["PipelineExecutionSteps"].member
    steps = []
    for i, step in enumerate(patch.get("Steps") or []):
        bad = sorted(set(step) - set(step_shape.members))
        if bad:
            raise ControlError(400, f"Steps[{i}]: unknown PipelineExecutionStep fields {bad}")
        steps.append(_convert_in(step, step_shape, f"Steps[{i}]"))
    status_shape = model.operation_model("DescribePipelineExecution").output_shape \
        .members["PipelineExecutionStatus"]
    status = patch.get("PipelineExecutionStatus", "Failed")
    _convert_in(status, status_shape, "PipelineExecutionStatus")
    from moto.sagemaker.models import FakePipelineExecution

    backend = sagemaker_backends[account][region]
    with LOCK:
        if pipeline not in backend.pipelines:
            backend.create_pipeline(pipeline, pipeline, "{}", None, None,
                                    f"arn:aws:iam::{account}:role/SageMakerExecutionRole", [], {})
        arn = f"arn:aws:sagemaker:{region}:{account}:pipeline/{pipeline}/execution/{execution_id}"
        executions = backend.pipelines[pipeline].pipeline_executions
        execution = executions.get(arn)
        if execution is None:
            execution = FakePipelineExecution(arn, execution_id, [], "", {}, "{}", "")
            executions[arn] = execution
        execution.pipeline_execution_status = status
        execution.pipeline_execution_failure_reason = patch.get("FailureReason")
        if "Steps" in patch:
            execution.sagewatch_steps = steps
        execution.last_modified_time = utc_now()
        return {"PipelineExecutionArn": arn, "PipelineExecutionStatus": status,
                "Steps": len(getattr(execution, "sagewatch_steps", []))}


TUNING_FIELDS = {"HyperParameterTuningJobStatus", "FailureReason", "TrainingJobStatusCounters", "TrainingJobs"}


def seed_tuning_job(name: str, patch: dict[str, Any]) -> dict[str, Any]:
    """A tuning job with its status, FailureReason, TrainingJobStatusCounters and `TrainingJobs`:
    the names of its children (training jobs seeded with seed()), which
    ListTrainingJobsForHyperParameterTuningJob lists."""
    patch = dict(patch)
    region = patch.pop("Region", DEFAULT_REGION)
    account = patch.pop("AccountId", DEFAULT_ACCOUNT)
    unknown = sorted(set(patch) - TUNING_FIELDS)
    if unknown:
        raise ControlError(400, f"only {sorted(TUNING_FIELDS)} can be set, not {unknown}")
    if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}", name):
        raise ControlError(400, f"invalid tuning job name {name!r}")
    shape = service_model().operation_model("DescribeHyperParameterTuningJob").output_shape
    if "HyperParameterTuningJobStatus" in patch:
        _convert_in(patch["HyperParameterTuningJobStatus"], shape.members["HyperParameterTuningJobStatus"],
                    "HyperParameterTuningJobStatus")
    counters = patch.get("TrainingJobStatusCounters")
    if counters is not None:
        bad = sorted(set(counters) - set(shape.members["TrainingJobStatusCounters"].members))
        if bad:
            raise ControlError(400, f"unknown TrainingJobStatusCounters {bad}")
    backend = sagemaker_backends[account][region]
    with LOCK:
        job = backend.hyper_parameter_tuning_jobs.get(name)
        if job is None:
            backend.create_hyper_parameter_tuning_job(
                name,
                {"Strategy": "Bayesian", "ResourceLimits": {"MaxNumberOfTrainingJobs": 50,
                                                            "MaxParallelTrainingJobs": 5}},
                None, None, None, [], None)
            job = backend.hyper_parameter_tuning_jobs[name]
        if "HyperParameterTuningJobStatus" in patch:
            job.hyper_parameter_tuning_job_status = patch["HyperParameterTuningJobStatus"]
        if "FailureReason" in patch:
            job.failure_reason = patch["FailureReason"]
        if counters is not None:
            job.training_job_status_counters = dict(counters)
        if "TrainingJobs" in patch:
            missing = [c for c in patch["TrainingJobs"] if c not in backend.training_jobs]
            if missing:
                raise ControlError(400, f"seed these training jobs first: {missing}")
            job.sagewatch_children = list(patch["TrainingJobs"])
        job.last_modified_time = utc_now()
        return _convert_out(backend.describe_hyper_parameter_tuning_job(name), shape)


# --- event-augmenter's sweep (issue #18): finished jobs whose event never came -------------

FINISHED_FIELDS = {"Kind", "Name", "Status", "FailureReason", "StartTime", "EndTime", "LastModifiedTime",
                   "CreationTime", "InstanceType", "InstanceCount", "Tags", "Region", "AccountId"}


def _finished_patch(kind: Kind, job: dict[str, Any]) -> dict[str, Any]:
    """One finished job's fields -> a seed() patch in the kind's own field names."""
    status = job.get("Status")
    if status not in TERMINAL:
        raise ControlError(400, f"Status must be one of {sorted(TERMINAL)}, not {status!r}")
    end = job.get("EndTime", job.get("LastModifiedTime"))
    if end is None:
        raise ControlError(400, "EndTime or LastModifiedTime is required")
    patch: dict[str, Any] = {
        kind.status_field: status,
        f"{kind.prefix}EndTime": end,
        # A job is last modified when it ends, unless the seed says otherwise.
        "LastModifiedTime": job.get("LastModifiedTime", end),
    }
    for field, target in (("StartTime", f"{kind.prefix}StartTime"), ("CreationTime", "CreationTime"),
                          ("Tags", "Tags"), ("Region", "Region"), ("AccountId", "AccountId")):
        if field in job:
            patch[target] = job[field]
    # Created when it started (or ended), not when it was seeded: listings sort by it.
    patch.setdefault("CreationTime", job.get("StartTime", end))
    if "FailureReason" in job:
        patch["FailureReason"] = job["FailureReason"]
    if "InstanceType" in job or "InstanceCount" in job:
        resources = {"InstanceType": job.get("InstanceType", "ml.m5.xlarge"),
                     "InstanceCount": job.get("InstanceCount", 1)}
        if kind.key == "training":
            patch["ResourceConfig"] = {**resources, "VolumeSizeInGB": 30}
        elif kind.key == "processing":
            patch["ProcessingResources"] = {"ClusterConfig": {**resources, "VolumeSizeInGB": 30}}
        else:
            patch["TransformResources"] = resources
    return patch


def seed_finished_jobs(body: dict[str, Any]) -> dict[str, Any]:
    """`{"Jobs": [{"Kind": "training"|"processing"|"transform", "Name", "Status":
    Completed|Failed|Stopped, "FailureReason", "StartTime", "EndTime", "LastModifiedTime"
    (default EndTime), "CreationTime", "InstanceType", "InstanceCount", "Tags" ([{Key, Value}],
    read with ListTags), "Region", "AccountId"}]}`: jobs that ended at a chosen time, as if
    their state-change event had been lost (nothing is sent anywhere). CreationTime defaults
    to StartTime, else EndTime.
    Answers `{"Jobs": [<Describe*Job of each>]}`."""
    jobs = body.get("Jobs")
    if not isinstance(jobs, list) or not jobs:
        raise ControlError(400, "`Jobs` must be a non-empty list")
    patches = []
    for i, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise ControlError(400, f"Jobs[{i}] is not an object")
        unknown = sorted(set(job) - FINISHED_FIELDS)
        if unknown:
            raise ControlError(400, f"Jobs[{i}]: unknown fields {unknown}; allowed {sorted(FINISHED_FIELDS)}")
        kind_key = job.get("Kind")
        if kind_key not in KINDS:
            raise ControlError(400, f"Jobs[{i}].Kind must be one of {sorted(KINDS)}, not {kind_key!r}")
        patches.append((kind_key, job.get("Name"), _finished_patch(KINDS[kind_key], job)))
    return {"Jobs": [seed(kind_key, str(name), patch) for kind_key, name, patch in patches]}
