#!/usr/bin/env bash
# overfit-guard's guard alarms in `make demo` (issue #17): an opted-in 2-host GPU training
# job starts -> its alarms are created (read back with DescribeAlarms); the same event again
# changes nothing; the job completes -> its alarms are gone; the sweep finds nothing left.
#
#   infra/local/demo_job_alarms.sh <emulator URL> <cargo lambda watch invoke port>
#
# Called by demo.sh after `cargo lambda watch` runs with the demo's functions.env, which sets
# SAGEWATCH_GUARD_ALARM_TOPIC_ARN to the topic created here (CreateTopic is idempotent by
# name). Everything it creates is in the emulator; it starts no process.
set -euo pipefail
cd "$(dirname "$0")/../.."
ENDPOINT=${1:?emulator URL}
INVOKE_PORT=${2:?invoke port}
PY="$(pwd)/.tools/venv/bin/python"
CARGO_LAMBDA="$(pwd)/.tools/venv/bin/cargo-lambda"
JOB=sagewatch-demo-guard-1 # the job of events/training-job-state-change-guard-*.json

step() { printf '\n==> %s\n' "$*"; }

aws_py() {
  AWS_ENDPOINT_URL=$ENDPOINT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_DEFAULT_REGION=us-east-1 "$PY" -c "$1" "${@:2}"
}

invoke() {
  step "$2"
  echo "\$ cargo lambda invoke overfit-guard --data-file $1"
  "$CARGO_LAMBDA" lambda invoke overfit-guard --invoke-address 127.0.0.1 \
    --invoke-port "$INVOKE_PORT" --data-file "$1" --output-format json |
    "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2)[:3000])'
}

# The job's state, through the emulator's control API (what SageMaker would report).
seed() {
  aws_py '
import json, sys, time, urllib.request
endpoint, job, status = sys.argv[1:4]
body = {"TrainingJobStatus": status, "TrainingStartTime": int(time.time()) - 3600,
        "AlgorithmSpecification": {"TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-gpu-py311",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "train:loss", "Regex": "train_loss=([0-9.]+)"},
                                  {"Name": "validation:loss", "Regex": "val_loss=([0-9.]+)"}]},
        "ResourceConfig": {"InstanceType": "ml.g5.12xlarge", "InstanceCount": 2, "VolumeSizeInGB": 100},
        "Tags": [{"Key": "sagewatch:auto-stop", "Value": "true"},
                 {"Key": "sagewatch:guard", "Value": "overfit=0.1 stall=30 low-gpu=10"}]}
req = urllib.request.Request(f"{endpoint}/_sagewatch/sagemaker/training-jobs/{job}",
    data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10):  # loopback only
    pass
' "$ENDPOINT" "$JOB" "$1"
}

SHOW_ALARMS='
import boto3, sys
cw = boto3.client("cloudwatch")
alarms = cw.describe_alarms(AlarmNamePrefix=f"sagewatch-guard-{sys.argv[1]}-")["MetricAlarms"]
print(f"{len(alarms)} guard alarms of {sys.argv[1]}:")
for a in alarms:
    expr = [q["Expression"] for q in a.get("Metrics", []) if q.get("Expression")]
    stats = [q["MetricStat"]["Metric"]["MetricName"] + "/" + q["MetricStat"]["Stat"]
             for q in a.get("Metrics", []) if q.get("MetricStat")]
    print("  %s: %s %s %g, %d of %d x %ds, missing %s -> %s" % (
        a["AlarmName"], expr[0] if expr else ", ".join(stats), a["ComparisonOperator"],
        a["Threshold"], a["DatapointsToAlarm"], a["EvaluationPeriods"],
        a["Metrics"][0]["MetricStat"]["Period"], a.get("TreatMissingData"), a["AlarmActions"]))
'

step "Seeding: alarm topic sagewatch-demo-alarms; training job $JOB (InProgress 1 h, ml.g5.12xlarge x 2, metric definitions train:loss / validation:loss, tags sagewatch:auto-stop=true and sagewatch:guard='overfit=0.1 stall=30 low-gpu=10')"
aws_py 'import boto3; print(boto3.client("sns").create_topic(Name="sagewatch-demo-alarms")["TopicArn"])'
seed InProgress

invoke events/training-job-state-change-guard-in-progress.json "overfit-guard: $JOB is InProgress - its guard alarms are created"
aws_py "$SHOW_ALARMS" "$JOB"
invoke events/training-job-state-change-guard-in-progress.json "overfit-guard: EventBridge delivers the same event again (nothing put)"
aws_py "$SHOW_ALARMS" "$JOB" | head -1

seed Completed
invoke events/training-job-state-change-guard-completed.json "overfit-guard: $JOB completed - its alarms are removed"
aws_py "$SHOW_ALARMS" "$JOB"
invoke events/training-job-guard-sweep.json "overfit-guard: the guard sweep (alarms of jobs that ended while an event was lost): nothing left"
