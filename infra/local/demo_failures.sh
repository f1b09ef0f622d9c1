#!/usr/bin/env bash
# failure-enricher's part of `make demo` for issue #14: seeds the emulator for the new report
# kinds, so demo.sh can then invoke failure-enricher with their samples.
#
#   infra/local/demo_failures.sh seed ENDPOINT   # after demo_scenario.py seed, before invoking
#
# Then (demo.sh, with its `invoke` helper):
#   invoke failure-enricher events/training-job-state-change-max-runtime.json \
#     "failure-enricher: a training job hit MaxRuntimeInSeconds (Stopped, a timeout) - how long against its limit?"
#
# Seeded: training job sagewatch-demo-timeout-1, Stopped / MaxRuntimeExceeded after 3600 s of
# 3600 s, with one host's log tail. Not seeded (yet): a Failed endpoint (the control API cannot
# seed one; moto creates endpoints InService) and a failed pipeline execution.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PY:-$(pwd)/.tools/venv/bin/python}"
[ "${1:-}" = seed ] && [ -n "${2:-}" ] || { echo "usage: $0 seed ENDPOINT" >&2; exit 2; }
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
PYEOF
