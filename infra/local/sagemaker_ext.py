"""SageMaker fixes for moto 5.2.5 and the job-seeding half of the control API.

Why each patch exists (all verified against moto 5.2.5):
- StopTrainingJob / StopTransformJob are not implemented (moto answers 500);
  StopProcessingJob jumps straight to `Stopped` without checking the status.
  AWS: InProgress -> Stopping; any other status -> ValidationException
  "The request was rejected because the training job is in status <Status>.".
  Here a stopped job stays `Stopping` until the control API moves it on.
- moto creates every job already `Completed`; AWS starts them `InProgress`.
  Created jobs here stay InProgress until the control API says otherwise.
- Unknown jobs: AWS says ValidationException "Requested resource not found.",
  moto "Could not find training job '<arn>'.".
- CreateProcessingJob drops ProcessingResources; CreateTrainingJob overwrites
  AlgorithmSpecification.MetricDefinitions with a made-up one; transform jobs
  report FailureReason/LabelingJobArn/AutoMLJobArn as "" instead of omitting them.
- AddTags appends duplicates instead of overwriting a key, crashes on transform
  jobs (tags None), and AddTags/ListTags on an unknown ARN give a 500.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import botocore.session
from moto.core.responses import EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
NOT_FOUND = "Requested resource not found."
LOCK = threading.RLock()


def _now() -> dt.datetime:
    # moto keeps naive UTC datetimes; stay consistent with it.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Kind:
    def __init__(self, key: str, noun: str, store: str, status_field: str, prefix: str):
        self.key = key  # "training"
        self.noun = noun  # "training job" (as in AWS messages)
        self.store = store  # backend attribute holding the jobs
        self.status_field = status_field  # "TrainingJobStatus"
        self.prefix = prefix  # "Training" / "Processing" / "Transform"

    @property
    def status_attr(self) -> str:
        return f"{self.key}_job_status"

    @property
    def end_attr(self) -> str:
        return f"{self.key}_end_time"

    @property
    def start_attr(self) -> str:
        return f"{self.key}_start_time"

    def jobs(self, backend: SageMakerModelBackend) -> dict[str, Any]:
        return getattr(backend, self.store)

    def output_shape(self) -> Any:
        return _model().operation_model(f"Describe{self.prefix}Job").output_shape


KINDS = {
    "training": Kind("training", "training job", "training_jobs", "TrainingJobStatus", "Training"),
    "processing": Kind(
        "processing", "processing job", "processing_jobs", "ProcessingJobStatus", "Processing"
    ),
    "transform": Kind("transform", "transform job", "transform_jobs", "TransformJobStatus", "Transform"),
}

_sm_model: Any = None


def _model() -> Any:
    global _sm_model
    if _sm_model is None:
        _sm_model = botocore.session.get_session().get_service_model("sagemaker")
    return _sm_model


# --- moto patches -------------------------------------------------------------------


def _find(backend: SageMakerModelBackend, kind: Kind, name: str) -> Any:
    job = kind.jobs(backend).get(name)
    if job is None:
        raise ValidationError(message=NOT_FOUND)
    return job


def _stop(backend: SageMakerModelBackend, kind: Kind, name: str) -> None:
    with LOCK:
        job = _find(backend, kind, name)
        status = getattr(job, kind.status_attr)
        if status != "InProgress":
            raise ValidationError(
                message=f"The request was rejected because the {kind.noun} is in status {status}."
            )
        now = _now()
        setattr(job, kind.status_attr, "Stopping")
        job.last_modified_time = now
        if kind.key == "training":
            job.secondary_status = "Stopping"
            transitions = list(getattr(job, "secondary_status_transitions", None) or [])
            if transitions and not transitions[-1].get("EndTime"):
                transitions[-1] = {**transitions[-1], "EndTime": now}
            transitions.append(
                {"Status": "Stopping", "StartTime": now, "StatusMessage": "Stopping the training job"}
            )
            job.secondary_status_transitions = transitions


def _mark_created(kind: Kind, job: Any) -> None:
    """A freshly created job is InProgress, as on AWS, with no end time yet."""
    now = _now()
    setattr(job, kind.status_attr, "InProgress")
    setattr(job, kind.end_attr, None)
    job.last_modified_time = now
    for attr in ("failure_reason", "labeling_job_arn", "auto_ml_job_arn"):
        if getattr(job, attr, None) == "":
            setattr(job, attr, None)
    if job.tags is None:
        job.tags = []
    if kind.key == "training":
        job.secondary_status = "Starting"
        job.training_start_time = None
        job.final_metric_data_list = None
        job.secondary_status_transitions = [
            {"Status": "Starting", "StartTime": job.creation_time,
             "StatusMessage": "Launching requested ML instances"}
        ]
    elif kind.key == "processing":
        job.processing_start_time = None
    else:
        job.transform_start_time = None


def _wrap_create(kind: Kind, response_method: str, name_param: str) -> None:
    original = getattr(SageMakerResponse, response_method)

    def create(self: SageMakerResponse) -> Any:
        metric_defs = None
        if kind.key == "training":
            metric_defs = (self._get_param("AlgorithmSpecification") or {}).get("MetricDefinitions")
        result = original(self)
        job = kind.jobs(self.sagemaker_backend).get(self._get_param(name_param))
        if job is not None:
            with LOCK:
                _mark_created(kind, job)
                if kind.key == "training":
                    if metric_defs:
                        job.algorithm_specification["MetricDefinitions"] = metric_defs
                    else:
                        job.algorithm_specification.pop("MetricDefinitions", None)
                if kind.key == "processing":
                    job.processing_resources = self._get_param("ProcessingResources")
                    job.environment = self._get_param("Environment")
        return result

    setattr(SageMakerResponse, response_method, create)


def _wrap_describe(kind: Kind) -> None:
    method = f"describe_{kind.key}_job"
    original = getattr(SageMakerModelBackend, method)

    def describe(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
        name = args[0] if args else next(iter(kwargs.values()))
        _find(self, kind, name)
        return original(self, *args, **kwargs)

    setattr(SageMakerModelBackend, method, describe)


def _get_resource_from_arn(self: SageMakerModelBackend, arn: str) -> Any:
    try:
        resource = _original_get_resource(self, arn)
    except (ValueError, AttributeError):
        resource = None
    if resource is None:
        raise ValidationError(message=NOT_FOUND)
    if getattr(resource, "tags", None) is None:
        resource.tags = []
    return resource


def _add_tags(self: SageMakerModelBackend, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
    with LOCK:
        resource = self._get_resource_from_arn(arn)
        merged = {t["Key"]: t for t in resource.tags}
        for tag in tags or []:
            merged[tag["Key"]] = {"Key": tag["Key"], "Value": tag.get("Value", "")}
        resource.tags = list(merged.values())
        return resource.tags


_original_get_resource = SageMakerModelBackend._get_resource_from_arn


def install() -> None:
    for kind in KINDS.values():
        def backend_stop(self: SageMakerModelBackend, name: str, _k: Kind = kind) -> None:
            _stop(self, _k, name)

        def response_stop(self: SageMakerResponse, _k: Kind = kind) -> Any:
            _stop(self.sagemaker_backend, _k, self._get_param(f"{_k.prefix}JobName"))
            return EmptyResult()

        setattr(SageMakerModelBackend, f"stop_{kind.key}_job", backend_stop)
        setattr(SageMakerResponse, f"stop_{kind.key}_job", response_stop)
        _wrap_describe(kind)
        _wrap_create(kind, f"create_{kind.key}_job", f"{kind.prefix}JobName")
    SageMakerModelBackend._get_resource_from_arn = _get_resource_from_arn
    SageMakerModelBackend.add_tags = _add_tags


# --- control API: seed / patch jobs ------------------------------------------------


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
            _mark_created(kind, job)
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
                member = _model().shape_for("Timestamp")
            setattr(job, _attr_name(job, field), _convert_in(value, member, field))
        _settle(kind, job, patch)
        return describe(kind_key, name, region, account)


def _settle(kind: Kind, job: Any, patch: dict[str, Any]) -> None:
    """Keep the seeded job self-consistent where the patch left fields out."""
    now = _now()
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

