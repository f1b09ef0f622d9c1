#!/usr/bin/env bash
# endpoint-canary's part of `make demo`: seeds the emulator's InvokeEndpoint results for the
# two endpoints of events/endpoint-canary-schedule.json (runtime_ext.py), so demo.sh can then
# invoke the canary with one passing and one failing check.
#
#   infra/local/demo_canary.sh seed ENDPOINT   # after the emulator is up, before invoking
#
# Then (demo.sh, with its `invoke` helper):
#   invoke endpoint-canary events/endpoint-canary-schedule.json \
#     "endpoint-canary: two scheduled checks - one passes, one gets a ModelError from its container"
#
# Seeded: sagewatch-demo-canary answers {"predictions":[{"label":"ok"}]} (passes);
# sagewatch-demo-canary-broken answers ModelError 500 "ValueError: could not convert string to
# float" (fails as model_error, with the classifier's hint).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PY:-$(pwd)/.tools/venv/bin/python}"
[ "${1:-}" = seed ] && [ -n "${2:-}" ] || { echo "usage: $0 seed ENDPOINT" >&2; exit 2; }
"$PY" - "$2" <<'PYEOF'
import json, sys, urllib.request

endpoint = sys.argv[1]
seeds = {
    "sagewatch-demo-canary": {"*": {"body": json.dumps({"predictions": [{"label": "ok", "score": 0.97}]}),
                                    "variant": "AllTraffic"}},
    "sagewatch-demo-canary-broken": {"*": {"error": "ModelError", "original_status": 500,
                                           "original_message": "ValueError: could not convert string to float: 'abc'"}},
}
for name, results in seeds.items():
    req = urllib.request.Request(
        f"{endpoint}/_sagewatch/sagemaker-runtime/endpoints/{name}",
        data=json.dumps({"results": results}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10):  # loopback only
        pass
    print(f"seeded InvokeEndpoint results of {name}", file=sys.stderr)
PYEOF
