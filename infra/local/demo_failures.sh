#!/usr/bin/env bash
# failure-enricher's part of `make demo` for issue #14: seeds the emulator for the new report
# kinds, so demo.sh can then invoke failure-enricher with their samples.
#
#   infra/local/demo_failures.sh seed ENDPOINT      # after demo_scenario.py seed, before invoking
#   infra/local/demo_failures.sh rollback ENDPOINT  # after the failed endpoint's report
#
# Then (demo.sh, with its `invoke` helper):
#   invoke failure-enricher events/training-job-state-change-max-runtime.json \
#     "failure-enricher: a training job hit MaxRuntimeInSeconds (Stopped, a timeout) - how long against its limit?"
#
# Seeded:
# - training job sagewatch-demo-timeout-1, Stopped / MaxRuntimeExceeded after 3600 s of 3600 s,
#   with one host's log tail;
# - endpoint SagewatchDemoEndpoint Failed (its container failed the ping health check), with
#   one instance's log tail (events/endpoint-state-change-failed.json);
# - pipeline sagewatch-demo-pipeline, execution k7x2m9q4w1ab, Failed at its Train step, whose
#   training job ran out of GPU memory (events/pipeline-execution-status-change-failed.json);
# - tuning job sagewatch-demo-hpo-2, Failed, 50 children: 47 out of GPU memory, 3 with a bad
#   hyperparameter (events/hyperparameter-tuning-job-state-change-failed.json).
# rollback: the same endpoint fixed, then updated under deployment guardrails and rolled back:
#   InService again, LastDeploymentConfig naming two alarms, the 5xx one in ALARM
#   (events/endpoint-deployment-state-change-rolled-back.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PY:-$(pwd)/.tools/venv/bin/python}"
case "${1:-}" in seed|rollback) ;; *) echo "usage: $0 seed|rollback ENDPOINT" >&2; exit 2 ;; esac
[ -n "${2:-}" ] || { echo "usage: $0 seed|rollback ENDPOINT" >&2; exit 2; }
if [ "$1" = rollback ]; then
"$PY" - "$2" <<'PYEOF'
import json, sys, time, urllib.request
import boto3

endpoint = sys.argv[1]
with open("events/endpoint-deployment-state-change-rolled-back.json") as f:
    name = json.load(f)["detail"]["EndpointName"]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
cw = boto3.client("cloudwatch", **kw)
alarms = [f"{name}-5xx", f"{name}-latency-p99"]
for alarm, metric, threshold in zip(alarms, ["Invocation5XXErrors", "ModelLatency"], [5.0, 500000.0]):
    cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/SageMaker", MetricName=metric,
                        Dimensions=[{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}],
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=threshold,
                        ComparisonOperator="GreaterThanThreshold")
cw.set_alarm_state(AlarmName=alarms[0], StateValue="ALARM", StateReason=(
    "Threshold Crossed: 1 out of the last 1 datapoints [14.0] was greater than the threshold (5.0) "
    "(minimum 1 datapoint for OK -> ALARM transition)."))
deployment = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 600,
                                        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}},
        "TerminationWaitInSeconds": 600, "MaximumExecutionTimeoutInSeconds": 3600},
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]},
}
req = urllib.request.Request(f"{endpoint}/_sagewatch/sagemaker/endpoints/{name}/state",
                             data=json.dumps({"EndpointStatus": "InService", "FailureReason": None,
                                              "LastDeploymentConfig": deployment}).encode(),
                             method="POST", headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10):  # loopback only
    pass
logs = boto3.client("logs", **kw)
now = int(time.time())
stream = f"AllTraffic/i-0canary0000000001"
logs.create_log_stream(logGroupName=f"/aws/sagemaker/Endpoints/{name}", logStreamName=stream)
logs.put_log_events(logGroupName=f"/aws/sagemaker/Endpoints/{name}", logStreamName=stream, logEvents=[
    {"timestamp": (now + i) * 1000, "message": m} for i, m in enumerate([
        "Model loaded from /opt/ml/model (config sagewatch-demo-endpoint-config-2)",
        "Traceback (most recent call last):",
        "ValueError: expected 784 input features, got 785",
        "Returning HTTP 500 to the client"])])
print(f"seeded endpoint {name}: InService after a rolled-back deployment, alarm {alarms[0]} in ALARM", file=sys.stderr)
PYEOF
exit 0
fi
"$PY" - "$2" <<'PYEOF'
import json, sys, time, urllib.request
import boto3

endpoint = sys.argv[1]
with open("events/training-job-state-change-max-runtime.json") as f:
    detail = json.load(f)["detail"]
name = detail["TrainingJobName"]
start = int(time.time()) - 3700
body = {
    "TrainingJobStatus": "Stopped",
    "SecondaryStatus": "MaxRuntimeExceeded",
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "TrainingStartTime": start,
    "TrainingEndTime": start + 3600,
    "TrainingTimeInSeconds": 3600,
}
req = urllib.request.Request(
    f"{endpoint}/_sagewatch/sagemaker/training-jobs/{name}",
    data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10):  # loopback only
    pass
logs = boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1",
                    aws_access_key_id="test", aws_secret_access_key="test")
group = "/aws/sagemaker/TrainingJobs"
try:
    logs.create_log_group(logGroupName=group)
except logs.exceptions.ResourceAlreadyExistsException:
    pass
stream = f"{name}/algo-1-{start}"
logs.create_log_stream(logGroupName=group, logStreamName=stream)
lines = [f"[{i}]#011train-logloss:0.{60 - i}#011validation-logloss:0.{62 - i}" for i in range(40)]
logs.put_log_events(logGroupName=group, logStreamName=stream,
                    logEvents=[{"timestamp": (start + 60 * i) * 1000, "message": l} for i, l in enumerate(lines)])
print(f"seeded {name}: Stopped / MaxRuntimeExceeded after 3600 s of 3600 s", file=sys.stderr)


def control(path, body):
    req = urllib.request.Request(f"{endpoint}/_sagewatch/sagemaker/{path}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10):  # loopback only
        pass


def log(group, stream, lines, t0):
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": (t0 + i) * 1000, "message": l} for i, l in enumerate(lines)])


# The failed endpoint: its container never answered /ping.
with open("events/endpoint-state-change-failed.json") as f:
    ep = json.load(f)["detail"]
control(f"endpoints/{ep['EndpointName']}/state", {"EndpointStatus": "Failed", "FailureReason": ep["FailureReason"]})
log(f"/aws/sagemaker/Endpoints/{ep['EndpointName']}", "AllTraffic/i-0abc123def4567890", [
    "Starting the inference server with 1 workers.",
    "Traceback (most recent call last):",
    '  File "/opt/ml/model/code/inference.py", line 3, in <module>',
    "ModuleNotFoundError: No module named 'transformers'",
    "Worker exited with code 1; the server is not answering /ping",
], start)
print(f"seeded endpoint {ep['EndpointName']}: Failed (ping health check), 1 instance log", file=sys.stderr)

# The failed pipeline execution: Prep succeeded, Train failed (its job ran out of GPU memory).
with open("events/pipeline-execution-status-change-failed.json") as f:
    arn = json.load(f)["detail"]["pipelineExecutionArn"]
pipeline, execution = arn.split(":pipeline/")[1].split("/execution/")
job = f"pipelines-{execution}-Train-a1b2c3d4e5"
control(f"training-jobs/{job}", {
    "TrainingJobStatus": "Failed",
    "FailureReason": "AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage \"\"",
    "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
    "HyperParameters": {"epochs": "10", "batch_size": "256"},
})
log("/aws/sagemaker/TrainingJobs", f"{job}/algo-1-{start}", [
    "epoch 1/10 step 100 loss 1.92",
    "Traceback (most recent call last):",
    '  File "train.py", line 88, in <module>',
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB (GPU 0; 22.19 GiB total capacity; 19.02 GiB already allocated)",
], start)
control(f"pipelines/{pipeline}/executions/{execution}", {"PipelineExecutionStatus": "Failed", "Steps": [
    {"StepName": "Prep", "StepStatus": "Succeeded", "StartTime": start, "EndTime": start + 300,
     "Metadata": {"ProcessingJob": {"Arn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/pipelines-{execution}-prep-0f1e2d3c4b"}}},
    {"StepName": "Train", "StepStatus": "Failed", "StartTime": start + 300, "EndTime": start + 900,
     "FailureReason": f"ClientError: Failed to invoke sagemaker:CreateTrainingJob. Error Details: Job {job} failed.",
     "Metadata": {"TrainingJob": {"Arn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job}"}}},
]})
print(f"seeded pipeline {pipeline} execution {execution}: Failed at Train ({job})", file=sys.stderr)

# The tuning job whose children failed, nearly all for one reason.
with open("events/hyperparameter-tuning-job-state-change-failed.json") as f:
    hpo = json.load(f)["detail"]["HyperParameterTuningJobName"]
children = []
for i in range(50):
    child = f"{hpo}-{i + 1:03d}-{'hp' if i >= 47 else 'oom'}"
    reason = ("ClientError: Additional properties are not allowed ('lr' was unexpected)" if i >= 47 else
              "AlgorithmError: torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
    control(f"training-jobs/{child}", {"TrainingJobStatus": "Failed", "FailureReason": reason})
    children.append(child)
control(f"hyper-parameter-tuning-jobs/{hpo}", {
    "HyperParameterTuningJobStatus": "Failed",
    "TrainingJobStatusCounters": {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 50, "Stopped": 0},
    "TrainingJobs": children,
})
print(f"seeded tuning job {hpo}: Failed, 50 failed children", file=sys.stderr)
PYEOF
