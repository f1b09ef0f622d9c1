#!/usr/bin/env bash
# endpoint-guard's part of `make demo`: alarms created for a 2-variant endpoint, unchanged on a
# second delivery, removed on Deleting; then an idle check with its digest.
#
#   infra/local/demo_guard.sh <emulator URL> <cargo lambda watch invoke port>
#
# Called by demo.sh after `cargo lambda watch` runs with the demo's functions.env (which holds
# SAGEWATCH_ALERTS_TOPIC_ARN). Everything it creates is in the emulator; it starts no process.
set -euo pipefail
cd "$(dirname "$0")/../.."
ENDPOINT=${1:?emulator URL}
INVOKE_PORT=${2:?invoke port}
PY="$(pwd)/.tools/venv/bin/python"
CARGO_LAMBDA="$(pwd)/.tools/venv/bin/cargo-lambda"
EP=sagewatch-demo-2v   # the endpoint of events/endpoint-state-change-*-2-variants / -deleting

step() { printf '\n==> %s\n' "$*"; }

aws_py() {
  AWS_ENDPOINT_URL=$ENDPOINT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_DEFAULT_REGION=us-east-1 "$PY" -c "$1" "${@:2}"
}

invoke() {
  step "$2"
  echo "\$ cargo lambda invoke endpoint-guard --data-file $1"
  "$CARGO_LAMBDA" lambda invoke endpoint-guard --invoke-address 127.0.0.1 \
    --invoke-port "$INVOKE_PORT" --data-file "$1" --output-format json |
    "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2)[:4000])'
}

SHOW_ALARMS='
import boto3, sys
cw = boto3.client("cloudwatch")
alarms = cw.describe_alarms(AlarmNamePrefix=f"sagewatch-endpoint-{sys.argv[1]}-")["MetricAlarms"]
print(f"{len(alarms)} alarms:")
# Optional second argument: show at most that many (no `| head`: with pipefail, a closed
# pipe would fail the demo).
for a in alarms[: int(sys.argv[2]) if len(sys.argv) > 2 else None]:
    stat = a.get("ExtendedStatistic") or a.get("Statistic") or "metric math"
    metric = a.get("MetricName") or "rate"
    print("  %s: %s %s %s %g" % (a["AlarmName"], metric, stat, a["ComparisonOperator"], a["Threshold"]))
'

step "Seeding endpoint $EP: variant gpu (ml.g4dn.12xlarge: 48 vCPUs, 4 GPUs), variant cpu (ml.m5.xlarge x 2: 4 vCPUs), tag sagewatch:latency-p90-ms=800; and sagewatch-demo-idle (ml.m5.large, tagged sagewatch:idle-action=delete)"
aws_py '
import boto3, datetime
sm = boto3.client("sagemaker")
sm.create_model(ModelName="sagewatch-demo-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1"})
def variant(name, ty, n):
    return {"VariantName": name, "ModelName": "sagewatch-demo-model", "InstanceType": ty,
            "InitialInstanceCount": n, "InitialVariantWeight": 1.0}
sm.create_endpoint_config(EndpointConfigName="sagewatch-demo-2v-config-1",
    ProductionVariants=[variant("gpu", "ml.g4dn.12xlarge", 1), variant("cpu", "ml.m5.xlarge", 2)])
sm.create_endpoint(EndpointName="sagewatch-demo-2v", EndpointConfigName="sagewatch-demo-2v-config-1",
    Tags=[{"Key": "sagewatch:latency-p90-ms", "Value": "800"}])
sm.create_endpoint_config(EndpointConfigName="sagewatch-demo-idle-config",
    ProductionVariants=[variant("AllTraffic", "ml.m5.large", 1)])
sm.create_endpoint(EndpointName="sagewatch-demo-idle", EndpointConfigName="sagewatch-demo-idle-config",
    Tags=[{"Key": "sagewatch:idle-action", "Value": "delete"}])
'
# Make both endpoints two days old, so the 24 h look-back can call them idle (control API;
# without that route the idle check reports them as too young).
for name in "$EP" sagewatch-demo-idle; do
  curl -fsS -X POST "$ENDPOINT/_sagewatch/sagemaker/endpoints/$name" \
    -d "{\"CreationTime\": $(( $(date +%s) - 172800 ))}" >/dev/null 2>&1 ||
    echo "(control route for endpoint times not available: $name stays young)"
done

invoke events/endpoint-state-change-in-service-2-variants.json "endpoint-guard: $EP is InService - its alarms, thresholds scaled by core count"
aws_py "$SHOW_ALARMS" "$EP"
invoke events/endpoint-state-change-in-service-2-variants.json "endpoint-guard: EventBridge delivers the same event again (same alarms, nothing changes)"
aws_py "$SHOW_ALARMS" "$EP" 0

invoke events/endpoint-guard-idle-check.json "endpoint-guard: the hourly idle check (dry-run by default: the tagged endpoint would be deleted)"

aws_py 'import boto3; boto3.client("sagemaker").delete_endpoint(EndpointName="sagewatch-demo-2v")'
invoke events/endpoint-state-change-deleting.json "endpoint-guard: $EP is Deleting - its alarms go"
aws_py "$SHOW_ALARMS" "$EP"

# The lost event: sagewatch-demo-idle went InService without any event reaching endpoint-guard
# (EventBridge delivers best effort). The 15-minute reconciliation finds it unalarmed.
invoke events/endpoint-guard-reconcile.json "endpoint-guard: the reconciliation - endpoints whose InService event never arrived get their alarms (ReconciledEvents)"
aws_py "$SHOW_ALARMS" sagewatch-demo-idle 2
invoke events/endpoint-guard-reconcile.json "endpoint-guard: the next reconciliation finds nothing to repair"
