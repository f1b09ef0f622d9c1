#!/usr/bin/env bash
# `make demo`: the emulator, a seeded scenario, each function via cargo-lambda, what each did.
# Everything listens on 127.0.0.1 and everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
PY="$REPO/.tools/venv/bin/python"
CARGO_LAMBDA="$REPO/.tools/venv/bin/cargo-lambda"
WORK=$(mktemp -d)
INVOKE_PORT=${SAGEWATCH_DEMO_INVOKE_PORT:-9009}
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

step() { printf '\n==> %s\n' "$*"; }

step "Starting the local AWS emulator (moto + sagewatch extension) on 127.0.0.1"
"$PY" infra/local/emulator.py --host 127.0.0.1 --port 0 --parent-pid $$ >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
pids+=($!)
for _ in $(seq 1 150); do
  grep -q '^SAGEWATCH_EMULATOR_READY ' "$WORK/emulator.out" 2>/dev/null && break
  sleep 0.2
done
ENDPOINT=$(sed -n 's/^SAGEWATCH_EMULATOR_READY //p' "$WORK/emulator.out")
[ -n "$ENDPOINT" ] || { cat "$WORK/emulator.err"; echo "emulator did not start"; exit 1; }
echo "emulator: $ENDPOINT"

step "Seeding: SNS alerts topic with an SQS subscriber; training jobs sagewatch-demo-train-1 and -2 (InProgress for 1 h, tagged sagewatch:auto-stop=true); failed jobs sagewatch-demo-failed-1 (training, 2 hosts) and sagewatch-demo-transform-1 with their logs"
"$PY" infra/local/demo_scenario.py seed "$ENDPOINT" >"$WORK/seed.env"
PY="$PY" bash infra/local/demo_failures.sh seed "$ENDPOINT"
PY="$PY" bash infra/local/demo_canary.sh seed "$ENDPOINT"
cat "$WORK/seed.env"

cat >"$WORK/functions.env" <<ENV
AWS_ENDPOINT_URL=$ENDPOINT
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_REGION=us-east-1
AWS_LAMBDA_LOG_FORMAT=JSON
AWS_LAMBDA_LOG_LEVEL=WARN
SAGEWATCH_REPORT_TAG_KEYS=project,team
SAGEWATCH_HOME_ACCOUNT=123456789012
# The demo's alarm notifications are the samples in events/, not alarms that exist in the
# emulator: overfit-guard's DescribeAlarms check (on in infra/template.yaml) would call them
# forged. The emulator tests cover that check against real alarms.
SAGEWATCH_CONFIRM_ALARMS=false
SAGEWATCH_GUARD_ALARM_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:sagewatch-demo-alarms
$(cat "$WORK/seed.env")
ENV

step "Building the functions and starting 'cargo lambda watch' on 127.0.0.1:$INVOKE_PORT"
cargo build --workspace --bins --quiet
"$CARGO_LAMBDA" lambda watch --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT" \
  --env-file "$WORK/functions.env" >"$WORK/watch.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$INVOKE_PORT") 2>/dev/null && break
  sleep 0.5
done

GPU_SAMPLE=events/training-job-state-change-gpu-2-hosts.json

invoke() {
  local fn=$1 file=$2 what=$3
  step "$what"
  echo "\$ cargo lambda invoke $fn --data-file $file"
  "$CARGO_LAMBDA" lambda invoke "$fn" --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT" \
    --data-file "$file" --output-format json | "$PY" -c "$SUMMARY"
}

# The answer as JSON; a failure report is long, so only its headline fields are shown here
# (the whole report is what the SQS subscriber receives, shown at the end).
SUMMARY='
import json, sys
doc = json.load(sys.stdin)
report = doc.get("report") if isinstance(doc, dict) else None
if report:
    keep = ["resource_type", "job_type", "job_name", "endpoint_name", "outcome", "rollback", "pipeline_name", "failed_step",
            "tuning_job_name", "category", "confidence", "hint", "signature", "evidence",
            "log_streams_read", "log_bytes_read", "hyperparameters", "training_job_counts",
            "failed_children_sampled"]
    doc["report"] = {k: report[k] for k in keep if k in report}
print(json.dumps(doc, indent=2))
'

invoke overfit-guard events/alarm-sns-single-metric.json "overfit-guard: the validation-loss alarm of sagewatch-demo-train-1 fires (SNS)"
invoke overfit-guard events/alarm-sns-single-metric.json "overfit-guard: SNS delivers the same notification again (idempotent: no second stop)"
invoke overfit-guard events/alarm-sns-ok.json "overfit-guard: the alarm returns to OK (never acted on)"
invoke overfit-guard events/alarm-sns-two-jobs.json "overfit-guard: an alarm over two jobs (refused: ambiguous)"

invoke failure-enricher events/training-job-state-change-failed.json "failure-enricher: sagewatch-demo-failed-1 failed (EventBridge event) - why?"
invoke failure-enricher events/transform-job-state-change.json "failure-enricher: a batch transform job failed with 'See job logs' - the logs say why"
invoke failure-enricher events/failure-direct-invoke.json "failure-enricher: on-demand triage of a job by name (direct invocation)"
invoke failure-enricher events/training-job-state-change-max-runtime.json "failure-enricher: a training job hit MaxRuntimeInSeconds (Stopped, a timeout) - how long against its limit?"
invoke failure-enricher events/endpoint-state-change-failed.json "failure-enricher: endpoint SagewatchDemoEndpoint failed to deploy - DescribeEndpoint + its instance's log"
PY="$PY" bash infra/local/demo_failures.sh rollback "$ENDPOINT"
invoke failure-enricher events/endpoint-deployment-state-change-rolled-back.json "failure-enricher: the endpoint's next update was rolled back by its deployment guardrails - which alarm?"
invoke failure-enricher events/pipeline-execution-status-change-failed.json "failure-enricher: a pipeline execution failed in its Train step - one report, with the training job's"
invoke failure-enricher events/hyperparameter-tuning-job-state-change-failed.json "failure-enricher: a tuning job whose 50 training jobs failed - the most common reason (5 described)"

invoke event-augmenter "$GPU_SAMPLE" "event-augmenter: a 2-host GPU training job completed (host utilisation from CloudWatch; algo-2 has no GPU data)"
invoke event-augmenter "$GPU_SAMPLE" "event-augmenter: EventBridge delivers the same event again (counted once: nothing emitted)"
invoke event-augmenter events/training-job-state-change-stopping.json "event-augmenter: Stopping is not an end state (not counted)"
invoke event-augmenter events/sqs-batch-training-job-state-change.json "event-augmenter: an SQS batch (partial batch response)"
invoke event-augmenter events/cloudtrail-api-call.json "event-augmenter: a StopTrainingJob call seen by CloudTrail (ApiCalls + audit line)"

invoke endpoint-canary events/endpoint-canary-schedule.json "endpoint-canary: two scheduled checks - one passes, one gets a ModelError from its container"

# endpoint-guard: alarms follow a 2-variant endpoint; an idle check and its digest.
bash infra/local/demo_guard.sh "$ENDPOINT" "$INVOKE_PORT"
# overfit-guard: guard alarms follow an opted-in GPU training job from start to end.
bash infra/local/demo_job_alarms.sh "$ENDPOINT" "$INVOKE_PORT"

step "What the functions did"
"$PY" infra/local/demo_scenario.py show "$ENDPOINT"
step "EMF metric lines the functions wrote (CloudWatch turns these into metrics)"
grep -h '"_aws"' "$WORK/watch.log" | "$PY" -c '
import json, sys
for line in sys.stdin:
    start = line.find("{")
    try:
        doc = json.loads(line[start:])
    except ValueError:
        continue
    d = doc["_aws"]["CloudWatchMetrics"][0]
    dims = {k: doc[k] for s in d["Dimensions"] for k in s}
    print("  ", d["Namespace"], dims, {m["Name"]: doc[m["Name"]] for m in d["Metrics"]})
'
step "Report lines for Logs Insights (sagewatch_event: job_summary, api_audit, job_failure)"
grep -h '"sagewatch_event"' "$WORK/watch.log" | grep -v '"_aws"' | "$PY" infra/local/demo_scenario.py reports -
step "Done; stopping the emulator and cargo lambda watch"
