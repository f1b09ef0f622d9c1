"""Seeds the emulator for `make bench`: the `make demo` scenario (its seeders, reused), the
endpoints endpoint-guard's samples name, and a failed 16-host training job whose logs fill
failure-enricher's whole read budget (its worst-case event: 16 hosts x 5,000 lines of ~230 B).

    seed.py ENDPOINT   -> prints KEY=VALUE lines for the functions' environment
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "infra", "local"))
os.chdir(REPO)

import demo_scenario  # noqa: E402  (the demo's seeders, importable from infra/local)

BIG_JOB = "sagewatch-bench-16-hosts"
HOSTS = 16
LINES = 5000


def seed_guard(endpoint: str) -> None:
    sm = demo_scenario.client("sagemaker", endpoint)
    sm.create_model(ModelName="sagewatch-demo-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1"})

    def variant(name: str, ty: str, n: int) -> dict:
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
    for name in ("sagewatch-demo-2v", "sagewatch-demo-idle"):
        try:
            demo_scenario.control(endpoint, "POST", f"/_sagewatch/sagemaker/endpoints/{name}",
                                  {"CreationTime": int(time.time()) - 172800})
        except Exception as e:  # an older emulator without the route: the endpoints stay young
            print(f"endpoint age not seeded for {name}: {e}", file=sys.stderr)


def seed_big_failure(endpoint: str) -> None:
    demo_scenario.control(endpoint, "POST", f"/_sagewatch/sagemaker/training-jobs/{BIG_JOB}", {
        "TrainingJobStatus": "Failed",
        "FailureReason": "AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage \"\"",
        "ResourceConfig": {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": HOSTS, "VolumeSizeInGB": 100},
    })
    logs = demo_scenario.client("logs", endpoint)
    group = "/aws/sagemaker/TrainingJobs"
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    filler = "x" * 180
    now = int(time.time()) * 1000 - 3_600_000
    for h in range(1, HOSTS + 1):
        stream = f"{BIG_JOB}/algo-{h}-1763719200"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        lines = [f"[algo-{h}] epoch 3 step {i} loss 0.{i} {filler}" for i in range(LINES)]
        if h == 7:
            lines.append("torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1269, "
                         "unhandled cuda error, NCCL version 2.18.1")
        for at in range(0, len(lines), 2500):
            batch = lines[at:at + 2500]
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
                {"timestamp": now + at + i, "message": m} for i, m in enumerate(batch)])


def main() -> None:
    endpoint = sys.argv[1]
    demo_scenario.seed(endpoint)  # prints SAGEWATCH_ALERTS_TOPIC_ARN=..., SAGEWATCH_DEDUPE_TABLE=...
    env = dict(os.environ, PY=sys.executable)
    for script in ("infra/local/demo_failures.sh", "infra/local/demo_canary.sh"):
        subprocess.run(["bash", script, "seed", endpoint], check=True, env=env, stdout=sys.stderr)
    seed_guard(endpoint)
    seed_big_failure(endpoint)
    print(f"SAGEWATCH_BENCH_BIG_JOB={BIG_JOB}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
