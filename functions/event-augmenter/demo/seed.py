"""Seeds the local emulator for event-augmenter's part of `make demo`.

    seed.py ENDPOINT   -> creates the dedupe table, puts host metrics, prints KEY=VALUE lines

The host metrics belong to demo/training-gpu-2-hosts.json (2 x ml.g5.2xlarge,
8 vCPUs and 1 GPU each): algo-1 reports all five metrics, algo-2 reports no GPU metrics, so the
report shows normalised values and two `missing` series. Values are sums over cores/GPUs, as
SageMaker publishes them. Uses boto3 (installed with moto) against the emulator only.
"""

from __future__ import annotations

import json
import pathlib
import sys

import boto3

REGION = "us-east-1"
TABLE = "sagewatch-demo-dedupe"
SAMPLE = pathlib.Path(__file__).resolve().parent / "training-gpu-2-hosts.json"

# metric -> per-minute values of algo-1 / algo-2 (None: the host never reported it)
SERIES = {
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


def seed(endpoint: str) -> None:
    ddb = client("dynamodb", endpoint)
    if TABLE not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )
        ddb.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
    event = json.loads(SAMPLE.read_text())
    detail = event["detail"]
    job = detail["TrainingJobName"]
    start = int(detail["TrainingStartTime"]) // 1000
    cw = client("cloudwatch", endpoint)
    for metric, hosts in SERIES.items():
        for i, values in enumerate(hosts, start=1):
            if values is None:
                continue
            # Spread over the job's 45 minutes, one datapoint every 10 minutes.
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
    print(f"SAGEWATCH_DEDUPE_TABLE={TABLE}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    seed(sys.argv[1])
