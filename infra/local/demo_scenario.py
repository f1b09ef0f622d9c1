"""Seeds and inspects the `make demo` scenario in the local emulator.

    demo_scenario.py seed ENDPOINT   -> prints `KEY=VALUE` lines for the functions' environment
    demo_scenario.py show ENDPOINT   -> prints what the functions did (job states, tags, SNS)

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
    print(f"SAGEWATCH_ALERTS_TOPIC_ARN={topic_arn}")


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
            print(f"  - {report.get('decision')}: job={report.get('training_job_name')} alarm={report.get('alarm_name')}")
            print(f"    {report.get('detail')}")
    if not seen:
        print("  (none)")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in {"seed", "show"}:
        sys.exit(__doc__)
    {"seed": seed, "show": show}[sys.argv[1]](sys.argv[2])
