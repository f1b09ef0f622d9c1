"""Seeds and inspects the `make demo` scenario in the local emulator.

    demo_scenario.py seed ENDPOINT   -> prints `KEY=VALUE` lines for the functions' environment
    demo_scenario.py show ENDPOINT   -> prints what the functions did (job states, tags, SNS)
    demo_scenario.py reports -       -> summarises the report lines (JSON) read from stdin

Uses boto3 (installed with moto) against the emulator; job state goes through the emulator's
/_sagewatch/ control API because real AWS has no way to set it.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request

import boto3

ACCOUNT = "123456789012"
REGION = "us-east-1"
TOPIC = "sagewatch-demo-alerts"
QUEUE = "sagewatch-demo-alerts-inbox"

# (job, status, trained seconds, opted in): the alarms in events/ name sagewatch-demo-train-1.
JOBS = [
    ("sagewatch-demo-train-1", "InProgress", 3600, True),
    ("sagewatch-demo-train-2", "InProgress", 3600, True),
]

# failure-enricher: the failed jobs the samples in events/ name, with their FailureReason and
# the host log lines a real job of that kind writes (the last lines are the ones that matter).
FAILED_TRAINING = "sagewatch-demo-failed-1"
FAILED_TRANSFORM = "sagewatch-demo-transform-1"
FAILED_TRAINING_LOGS = {
    "algo-1": [
        "Invoking script with the following command: /opt/conda/bin/python3.9 train.py --num_round 100",
        "[2024-06-10:13:08:51:INFO] Reading training data from /opt/ml/input/data/train",
        "Traceback (most recent call last):",
        '  File "train.py", line 42, in <module>',
        "    X = df.astype(float)",
        "ValueError: could not convert string to float: 'label'",
    ],
    "algo-2": [
        "[2024-06-10:13:08:52:INFO] Waiting for the leader algo-1",
        "[2024-06-10:13:09:10:ERROR] Leader exited, stopping",
    ],
}
FAILED_TRANSFORM_LOGS = {
    "i-0a1b2c3d4e5f60718-1718024400": [
        "2024-06-10T13:00:01.000:[sagemaker logs]: MaxConcurrentTransforms=1, MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD",
        "java.lang.OutOfMemoryError: Java heap space",
        "2024-06-10T13:00:09.000:[sagemaker logs]: sagewatch-demo-123456789012/data/batch.csv: ClientError: 400",
    ],
}

# event-augmenter: the de-duplication table and the host metrics of the 2-host GPU job in
# GPU_SAMPLE (2 x ml.g5.2xlarge: 8 vCPUs, 1 GPU each). algo-2 reports no GPU metrics, so the
# report shows two `missing` series. Values are sums over cores/GPUs, as SageMaker publishes them.
DEDUPE_TABLE = "sagewatch-demo-dedupe"
GPU_SAMPLE = "events/training-job-state-change-gpu-2-hosts.json"
HOST_SERIES = {
    "CPUUtilization": ([410.0, 520.0, 610.0, 580.0], [150.0, 180.0, 210.0, 160.0]),
    "MemoryUtilization": ([45.0, 52.0, 55.0, 50.0], [30.0, 33.0, 35.0, 31.0]),
    "GPUUtilization": ([85.0, 92.0, 95.0, 90.0], None),
    "GPUMemoryUtilization": ([60.0, 64.0, 66.0, 62.0], None),
    "DiskUtilization": ([12.0, 12.0, 13.0, 13.0], [9.0, 9.0, 9.0, 10.0]),
}


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def control(endpoint: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
        return json.loads(resp.read() or b"{}")


def seed(endpoint: str) -> None:
    sns, sqs = client("sns", endpoint), client("sqs", endpoint)
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}",
        Attributes={"RawMessageDelivery": "true"},
    )
    now = int(time.time())
    for name, status, trained, opted_in in JOBS:
        tags = [{"Key": "sagewatch:auto-stop", "Value": "true"}] if opted_in else []
        control(
            endpoint,
            "POST",
            f"/_sagewatch/sagemaker/training-jobs/{name}",
            {"TrainingJobStatus": status, "TrainingStartTime": now - trained, "Tags": tags},
        )
    seed_failures(endpoint, now)
    seed_host_metrics(endpoint)
    print(f"SAGEWATCH_ALERTS_TOPIC_ARN={topic_arn}")
    print(f"SAGEWATCH_DEDUPE_TABLE={DEDUPE_TABLE}")


def seed_host_metrics(endpoint: str) -> None:
    ddb = client("dynamodb", endpoint)
    ddb.create_table(
        TableName=DEDUPE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    ddb.update_time_to_live(
        TableName=DEDUPE_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    with open(GPU_SAMPLE) as f:
        detail = json.load(f)["detail"]
    job, start = detail["TrainingJobName"], int(detail["TrainingStartTime"]) // 1000
    cw = client("cloudwatch", endpoint)
    for metric, hosts in HOST_SERIES.items():
        for i, values in enumerate(hosts, start=1):
            if values is None:
                continue
            # Over the job's 45 minutes, one datapoint every 10 minutes.
            data = [
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Host", "Value": f"{job}/algo-{i}"}],
                    "Timestamp": start + 300 + 600 * n,
                    "Value": v,
                    "Unit": "Percent",
                }
                for n, v in enumerate(values)
            ]
            cw.put_metric_data(Namespace="/aws/sagemaker/TrainingJobs", MetricData=data)


def put_logs(logs, group: str, job: str, hosts: dict[str, list[str]], now: int) -> None:
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    for host, lines in hosts.items():
        stream = f"{job}/{host}" if host.startswith("i-") else f"{job}/{host}-{now}"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        events = [{"timestamp": now * 1000 + i, "message": line} for i, line in enumerate(lines)]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def seed_failures(endpoint: str, now: int) -> None:
    with open("events/training-job-state-change-failed.json") as f:
        reason = json.load(f)["detail"]["FailureReason"]
    control(
        endpoint,
        "POST",
        f"/_sagewatch/sagemaker/training-jobs/{FAILED_TRAINING}",
        {
            "TrainingJobStatus": "Failed",
            "FailureReason": reason,
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 20},
            "HyperParameters": {"num_round": "100", "objective": "binary:logistic", "wandb_api_key": "demo-secret-value"},
        },
    )
    control(
        endpoint,
        "POST",
        f"/_sagewatch/sagemaker/transform-jobs/{FAILED_TRANSFORM}",
        {"TransformJobStatus": "Failed", "FailureReason": "ClientError: See job logs for more information"},
    )
    logs = client("logs", endpoint)
    put_logs(logs, "/aws/sagemaker/TrainingJobs", FAILED_TRAINING, FAILED_TRAINING_LOGS, now)
    put_logs(logs, "/aws/sagemaker/TransformJobs", FAILED_TRANSFORM, FAILED_TRANSFORM_LOGS, now)


def show(endpoint: str) -> None:
    sm, sqs = client("sagemaker", endpoint), client("sqs", endpoint)
    print("Training jobs now:")
    for name, *_ in JOBS:
        job = sm.describe_training_job(TrainingJobName=name)
        arn = job["TrainingJobArn"]
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
        stop_tags = {k: v for k, v in tags.items() if k.startswith("sagewatch:stop")}
        print(f"  {name}: {job['TrainingJobStatus']}  {json.dumps(stop_tags) if stop_tags else ''}")
    queue_url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    print("Notifications received by an SQS subscriber of the alerts topic:")
    seen = 0
    while True:
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            seen += 1
            report = json.loads(m["Body"])
            if "category" in report:  # failure-enricher: jobs, endpoints, pipelines, tuning jobs
                print(f"  - failure report: {subject_of(report)} -> {report['category']}"
                      f" (confidence {report.get('confidence')}, signature #{report.get('signature_hash')})"
                      + (" [reconciled]" if report.get("reconciled") else ""))
                print(f"    what to do: {report.get('hint')}")
                for ev in report.get("evidence", [])[:3]:
                    print(f"    evidence [{ev.get('host', '-')}] {str(ev.get('text', ''))[:110]}")
                secret = report.get("hyperparameters", {}).get("wandb_api_key")
                if secret:
                    print(f"    hyperparameter wandb_api_key as sent: {secret}")
                continue
            print(f"  - {report.get('decision')}: job={report.get('training_job_name')} alarm={report.get('alarm_name')}")
            print(f"    {report.get('detail')}")
    if not seen:
        print("  (none)")


def subject_of(report: dict) -> str:
    """What a failure report is about, whatever its kind."""
    for key, label in (("job_name", None), ("endpoint_name", "endpoint"),
                       ("pipeline_name", "pipeline"), ("tuning_job_name", "tuning job")):
        if report.get(key):
            label = label or f"{report.get('job_type', '')} job".strip()
            return f"{label} {report[key]}"
    return "(unknown resource)"


def reports(_: str) -> None:
    """One line per report line (JSON on stdin, possibly after a log prefix)."""
    for line in sys.stdin:
        try:
            doc = json.loads(line[line.find("{"):])
        except ValueError:
            continue
        g = doc.get
        kind = g("sagewatch_event")
        if kind == "job_summary":
            print(f"   job_summary {g('job_name')} {g('status')}: {g('instance_count')} x {g('instance_type')},"
                  f" instance_seconds={g('instance_seconds')},"
                  f" cpu avg/max={g('cpu_utilization_avg')}/{g('cpu_utilization_max')} %,"
                  f" gpu avg/max={g('gpu_utilization_avg')}/{g('gpu_utilization_max')} %,"
                  f" underutilized={g('underutilized')}, missing={g('missing')}")
        elif kind == "api_audit":
            print(f"   api_audit {g('event_name')} by {g('user_arn')} from {g('source_ip')}: {g('request_parameters')}")
        elif kind == "job_failure":
            print(f"   job_failure {g('job_type')} {g('job_name')}: {g('category')} (signature #{g('signature_hash')})")


if __name__ == "__main__":
    commands = {"seed": seed, "show": show, "reports": reports}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2])
