"""moto 5.2.5 patched to answer SageMaker job calls as AWS does; installed once by
emulator.py's build_app(). The job kinds (KINDS) and the lock live here; the control API's
job seeding (sagemaker_control.py) builds on them.

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
- UpdateEndpoint is not implemented. Here it switches the endpoint to the new
  EndpointConfig's variants at once (AWS: Updating, then InService with them), so an
  update that drops a variant can be tested (endpoint-guard).
- ListPipelineExecutionSteps and ListTrainingJobsForHyperParameterTuningJob are not
  implemented; here they answer from what the control API seeded (failure-enricher).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import botocore.session
from moto.core.responses import EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

NOT_FOUND = "Requested resource not found."
# One lock for every change to a job: the server is threaded, and the control API and
# these patches read-modify-write the same moto objects.
LOCK = threading.RLock()


def utc_now() -> dt.datetime:
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
        return service_model().operation_model(f"Describe{self.prefix}Job").output_shape


KINDS = {
    "training": Kind("training", "training job", "training_jobs", "TrainingJobStatus", "Training"),
    "processing": Kind(
        "processing", "processing job", "processing_jobs", "ProcessingJobStatus", "Processing"
    ),
    "transform": Kind("transform", "transform job", "transform_jobs", "TransformJobStatus", "Transform"),
}

_service_model: Any = None


def service_model() -> Any:
    global _service_model
    if _service_model is None:
        _service_model = botocore.session.get_session().get_service_model("sagemaker")
    return _service_model


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
        now = utc_now()
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


def mark_created(kind: Kind, job: Any) -> None:
    """A freshly created job is InProgress, as on AWS, with no end time yet."""
    now = utc_now()
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
                mark_created(kind, job)
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


def _update_endpoint(self: SageMakerResponse) -> Any:
    from moto.core.responses import ActionResult

    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    with LOCK:
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ValidationError(message=f'Could not find endpoint "{name}".')
        config_name = self._get_param("EndpointConfigName")
        config = backend.describe_endpoint_config(config_name)  # AWS's error when missing
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.last_modified_time = utc_now()
        return ActionResult({"EndpointArn": endpoint.arn})


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
    SageMakerResponse.update_endpoint = _update_endpoint
    install_failure_listings()
    install_sweep_listings()


# --- failure-enricher: pipeline steps and tuning-job children (issue #14) ---------------
# moto 5.2.5 has no ListPipelineExecutionSteps and no ListTrainingJobsForHyperParameterTuningJob
# (both answer "not implemented"). The control API (sagemaker_control.seed_pipeline_execution /
# seed_tuning_job) keeps the steps on the execution and the children's names on the tuning
# job; these answer from them, paginated as AWS does (MaxResults, an opaque NextToken).

def _page(items: list[Any], max_results: Any, token: Any, default: int = 10) -> tuple[list[Any], str | None]:
    try:
        size = int(max_results) if max_results else default
        start = int(token) if token else 0
    except (TypeError, ValueError):
        raise ValidationError(message="Invalid pagination token or MaxResults.")
    size = max(1, min(size, 100))
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _list_pipeline_execution_steps(self: SageMakerResponse) -> Any:
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ResourceNotFound
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    arn = self._get_param("PipelineExecutionArn")
    with LOCK:
        try:
            execution = get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, arn)
        except ValidationError:
            raise ResourceNotFound(message=f"Pipeline execution {arn} does not exist.")
        # AWS lists the newest step first unless SortOrder=Ascending.
        steps = list(getattr(execution, "sagewatch_steps", []))
        if self._get_param("SortOrder") != "Ascending":
            steps.reverse()
        page, token = _page(steps, self._get_param("MaxResults"), self._get_param("NextToken"))
    out: dict[str, Any] = {"PipelineExecutionSteps": page}
    if token:
        out["NextToken"] = token
    return ActionResult(out)


def _list_training_jobs_for_tuning_job(self: SageMakerResponse) -> Any:
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ResourceNotFound

    backend = self.sagemaker_backend
    name = self._get_param("HyperParameterTuningJobName")
    status = self._get_param("StatusEquals")
    with LOCK:
        tuning = backend.hyper_parameter_tuning_jobs.get(name)
        if tuning is None:
            raise ResourceNotFound(message=f"Amazon SageMaker can't find a tuning job named {name}.")
        summaries = []
        for child in getattr(tuning, "sagewatch_children", []):
            job = backend.training_jobs.get(child)
            if job is None or (status and job.training_job_status != status):
                continue
            summary = {
                "TrainingJobName": job.training_job_name,
                "TrainingJobArn": job.arn,
                "TuningJobName": name,
                "CreationTime": job.creation_time,
                "TrainingStartTime": job.training_start_time,
                "TrainingEndTime": job.training_end_time,
                "TrainingJobStatus": job.training_job_status,
                "TunedHyperParameters": dict(job.hyper_parameters or {}),
                "FailureReason": job.failure_reason or None,
            }
            summaries.append({k: v for k, v in summary.items() if v is not None})
        page, token = _page(summaries, self._get_param("MaxResults"), self._get_param("NextToken"))
    out: dict[str, Any] = {"TrainingJobSummaries": page}
    if token:
        out["NextToken"] = token
    return ActionResult(out)


def install_failure_listings() -> None:
    SageMakerResponse.list_pipeline_execution_steps = _list_pipeline_execution_steps
    SageMakerResponse.list_training_jobs_for_hyper_parameter_tuning_job = _list_training_jobs_for_tuning_job


# --- event-augmenter's sweep (issue #18): List{Training,Processing,Transform}Jobs ----------
# moto 5.2.5 answers these, and honours LastModifiedTimeAfter/Before, but not as AWS does:
# - it cuts a page of MaxResults jobs first and filters that page afterwards (pages come back
#   short or empty while NextToken goes on, and which jobs a page holds depends on every
#   other job in the account);
# - SortBy / SortOrder are checked but ignored (insertion order).
# AWS filters, sorts (CreationTime unless SortBy says otherwise) and then pages. These answer
# from moto's jobs that way, with the Summary fields of each kind. (StatusEquals is applied
# with the other filters; AWS documents that it is applied after MaxResults.)

SWEEP_TIME_FILTERS = {
    "CreationTimeAfter": ("creation_time", 1),
    "CreationTimeBefore": ("creation_time", -1),
    "LastModifiedTimeAfter": ("last_modified_time", 1),
    "LastModifiedTimeBefore": ("last_modified_time", -1),
}

SUMMARY_FIELDS = {
    "training": ["TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime",
                 "LastModifiedTime", "TrainingJobStatus", "SecondaryStatus"],
    "processing": ["ProcessingJobName", "ProcessingJobArn", "CreationTime", "ProcessingEndTime",
                   "LastModifiedTime", "ProcessingJobStatus", "FailureReason", "ExitMessage"],
    "transform": ["TransformJobName", "TransformJobArn", "CreationTime", "TransformEndTime",
                  "LastModifiedTime", "TransformJobStatus", "FailureReason"],
}


def _request_time(value: Any, field: str) -> dt.datetime | None:
    """A parsed datetime, epoch seconds (number or numeric string) or ISO-8601 -> naive UTC,
    like moto's jobs."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValidationError(message=f"{field}: not a timestamp: {value!r}")
            return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).replace(tzinfo=None)
    raise ValidationError(message=f"{field}: not a timestamp: {value!r}")


def _sweep_page(items: list[Any], max_results: Any, token: Any) -> tuple[list[Any], str | None]:
    """One page of MaxResults (1..=100, AWS's default 10) from an opaque NextToken."""
    try:
        size = int(max_results) if max_results else 10
        start = int(token) if token else 0
    except (TypeError, ValueError):
        raise ValidationError(message="Invalid pagination token or MaxResults.")
    if not 1 <= size <= 100 or not 0 <= start <= len(items):
        raise ValidationError(message="Invalid pagination token or MaxResults.")
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _sweep_summary(kind: Kind, job: Any) -> dict[str, Any]:
    prefix = kind.prefix
    values = {
        f"{prefix}JobName": getattr(job, f"{kind.key}_job_name"),
        f"{prefix}JobArn": job.arn,
        "CreationTime": job.creation_time,
        f"{prefix}EndTime": getattr(job, kind.end_attr, None),
        "LastModifiedTime": getattr(job, "last_modified_time", None),
        kind.status_field: getattr(job, kind.status_attr),
        "SecondaryStatus": getattr(job, "secondary_status", None),
        "FailureReason": getattr(job, "failure_reason", None) or None,
        "ExitMessage": getattr(job, "exit_message", None) or None,
    }
    return {k: values[k] for k in SUMMARY_FIELDS[kind.key] if values.get(k) is not None}


def _list_jobs(kind: Kind) -> Any:
    def handler(self: SageMakerResponse) -> Any:
        from moto.core.responses import ActionResult

        param = self._get_param
        sort_by = param("SortBy", "CreationTime")
        sort_order = param("SortOrder", "Ascending")
        if sort_by not in ("Name", "CreationTime", "Status") or sort_order not in ("Ascending", "Descending"):
            raise ValidationError(message=f"invalid SortBy {sort_by!r} or SortOrder {sort_order!r}")
        bounds = [(attr, sign, _request_time(param(f), f))
                  for f, (attr, sign) in SWEEP_TIME_FILTERS.items()]
        name_contains = param("NameContains")
        status = param("StatusEquals")

        def keep(job: Any) -> bool:
            for attr, sign, bound in bounds:
                value = getattr(job, attr, None)
                if bound is not None and (value is None or (value - bound).total_seconds() * sign <= 0):
                    return False
            if name_contains and name_contains not in getattr(job, f"{kind.key}_job_name"):
                return False
            return not status or getattr(job, kind.status_attr) == status

        sort_key = {
            "Name": lambda j: getattr(j, f"{kind.key}_job_name"),
            "CreationTime": lambda j: j.creation_time,
            "Status": lambda j: getattr(j, kind.status_attr),
        }[sort_by]
        with LOCK:
            jobs = sorted((j for j in kind.jobs(self.sagemaker_backend).values() if keep(j)),
                          key=sort_key, reverse=sort_order == "Descending")
            page, token = _sweep_page(jobs, param("MaxResults"), param("NextToken"))
            summaries = [_sweep_summary(kind, j) for j in page]
        out: dict[str, Any] = {f"{kind.prefix}JobSummaries": summaries}
        if token:
            out["NextToken"] = token
        return ActionResult(out)

    return handler


def install_sweep_listings() -> None:
    for kind in KINDS.values():
        setattr(SageMakerResponse, f"list_{kind.key}_jobs", _list_jobs(kind))
