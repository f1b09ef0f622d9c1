#!/usr/bin/env bash
# Offline validation of the CloudFormation / SAM templates in infra/:
#   1. cfn-lint on every infra/*.yaml (errors, warnings and informational rules),
#   2. sam validate --lint on infra/template.yaml,
#   3. every IAM action in every policy exists (cfn-lint skips that for SAM templates),
#   4. every CloudWatch dashboard body (JSON assembled with !Sub) parses, widgets complete,
#   5. every StackSet's parameters are wired to its template's (names, required, values),
#   6. infra/destroy.sh deletes in reverse deploy order (against a stub aws, offline),
#   7. checkov (CloudFormation): no failed check; a suppression is allowed only as
#      `Metadata: checkov: skip: [{id, comment}]` in the template, with a comment.
# Exits non-zero on any finding. Needs only python3 (with venv) and, the first time, PyPI.
#
# The tools live in their own venvs, never in .tools/venv (the emulator's, which pins
# moto/boto3):
#   .tools/infra-venv    aws-sam-cli + cfn-lint   (infra/requirements.txt)
#   .tools/checkov-venv  checkov                  (infra/requirements-checkov.txt)
# checkov pins a boto3 that aws-sam-cli's pin excludes, so they cannot share a venv.
# A venv is (re)installed only when its requirements file is newer than its stamp.
#
# Nothing here talks to AWS or downloads at run time: no credentials are needed, SAM's
# telemetry and weekly PyPI version check are off, checkov runs with --skip-download and
# without its update check.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PYTHON=${PYTHON:-python3}
SAM_VENV=$ROOT/.tools/infra-venv
CHECKOV_VENV=$ROOT/.tools/checkov-venv
START=$SECONDS

# --- tools ---------------------------------------------------------------------------

ensure_venv() { # venv requirements-file
    local venv=$1 req=$2 stamp=$1/.installed log=$1.install.log
    if [[ -f $stamp && ! $req -nt $stamp ]]; then
        return 0
    fi
    echo "==> installing ${req#"$ROOT"/} into ${venv#"$ROOT"/} (a few minutes the first time)"
    if [[ ! -x $venv/bin/python ]]; then
        "$PYTHON" -m venv "$venv"
    fi
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check -r "$req" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "error: installing $req failed (full log: ${log#"$ROOT"/})" >&2
        return 1
    fi
    touch "$stamp"
}

# Both installs at once: they are independent and mostly wait on downloads.
ensure_venv "$SAM_VENV" "$ROOT/infra/requirements.txt" &
sam_install=$!
ensure_venv "$CHECKOV_VENV" "$ROOT/infra/requirements-checkov.txt" &
checkov_install=$!
install_ok=true
wait "$sam_install" || install_ok=false
wait "$checkov_install" || install_ok=false
$install_ok || exit 1

# --- offline environment -------------------------------------------------------------

export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 # any region: nothing is called
export AWS_EC2_METADATA_DISABLED=true                    # no credential probing of IMDS
export SAM_CLI_TELEMETRY=0
# SAM keeps its global settings (telemetry, last version check) in metadata.json under this
# directory: a private one whose last check lies in the future (year 2100; SAM reads it only
# as a float) never asks PyPI.
export __SAM_CLI_APP_DIR=$SAM_VENV/sam-app-dir
mkdir -p "$__SAM_CLI_APP_DIR"
echo '{"telemetryEnabled": false, "lastVersionCheck": 4102444800.0}' >"$__SAM_CLI_APP_DIR/metadata.json"
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true # no PyPI version check
export BC_SKIP_MAPPING=TRUE               # no download of the platform's check mapping
export CKV_PARSE_ERROR_FAIL=true          # a template checkov cannot parse is a failure

# --- checks --------------------------------------------------------------------------

templates=(infra/*.yaml)
failed=()

step() { # name command...
    local name=$1 step_start=$SECONDS
    shift
    echo "==> $name"
    if "$@"; then
        echo "    ok ($((SECONDS - step_start)) s)"
    else
        echo "    FAILED ($((SECONDS - step_start)) s)"
        failed+=("$name")
    fi
}

run_checkov() {
    local out rc=0 args=() template
    out=$(mktemp -d)
    for template in "${templates[@]}"; do args+=(--file "$template"); done
    "$CHECKOV_VENV/bin/checkov" --framework cloudformation --skip-download --output json \
        "${args[@]}" >"$out/checkov.json" || rc=$?
    # Failed and skipped checks, a summary, and a failure for a suppression without a reason.
    "$CHECKOV_VENV/bin/python" - "$out/checkov.json" <<'EOF' || rc=1
import json, sys
reports = json.load(open(sys.argv[1]))
reports = reports if isinstance(reports, list) else [reports]
passed = failed = skipped = parse_errors = 0
bad = []
for r in reports:
    s = r["summary"]
    passed += s["passed"]; failed += s["failed"]; skipped += s["skipped"]
    parse_errors += s["parsing_errors"]
    for c in r["results"].get("failed_checks", []):
        lines = "-".join(str(n) for n in c.get("file_line_range") or [])
        print(f'    FAILED {c["check_id"]} {c["check_name"]}')
        print(f'        {c["resource"]} ({c["file_path"].lstrip("/")}:{lines})')
    for c in r["results"].get("skipped_checks", []):
        comment = (c.get("check_result") or {}).get("suppress_comment") or ""
        where = f'{c["check_id"]} on {c["resource"]} ({c["file_path"].lstrip("/")})'
        print(f"    skipped {where}: {comment}")
        if not comment.strip() or comment.strip() == "No comment provided":
            bad.append(where)
print(f"    checkov: passed {passed}, failed {failed}, skipped {skipped}, parse errors {parse_errors}")
for b in bad:
    print(f"    suppression without a reason: {b}")
sys.exit(1 if failed or parse_errors or bad else 0)
EOF
    rm -rf "$out"
    return "$rc"
}

# cfn-lint's check that IAM actions exist (W3037) skips templates with the SAM transform and
# cannot see policies written as JSON strings (the opt-in condition needs one): check every
# Action / NotAction of every template against cfn-lint's list of IAM actions here.
check_iam_actions() {
    "$SAM_VENV/bin/python" - "${templates[@]}" <<'PY'
import json, re, sys
from cfnlint.data import AdditionalSpecs
from cfnlint.decode import decode
from cfnlint.helpers import load_resource

services = load_resource(AdditionalSpecs, "Policies.json")
bad, seen = [], 0

def actions_in(node):
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:  # maybe a policy written as a JSON string
            sub = node["Fn::Sub"]
            text = sub if isinstance(sub, str) else sub[0]
            try:
                doc = json.loads(re.sub(r"\$\{[^}]*\}", "x", text))
            except ValueError:
                return
            yield from actions_in(doc)
            return
        for key, value in node.items():
            if key in ("Action", "NotAction"):
                for action in value if isinstance(value, list) else [value]:
                    if isinstance(action, str):
                        yield action
            else:
                yield from actions_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from actions_in(item)

for path in sys.argv[1:]:
    template, errors = decode(path)
    if errors:
        bad.append(f"{path}: cannot parse")
        continue
    for name, resource in (template.get("Resources") or {}).items():
        for action in actions_in(resource.get("Properties", {})):
            seen += 1
            service, _, permission = action.partition(":")
            known = services.get(service.lower(), {}).get("Actions", {})
            pattern = "^" + re.escape(permission.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$"
            if action != "*" and not any(re.match(pattern, k) for k in known):
                bad.append(f"{path} {name}: unknown IAM action {action!r}")
print(f"    {seen} IAM actions checked")
for b in bad:
    print(f"    {b}")
sys.exit(1 if bad else 0)
PY
}

# A dashboard body is a JSON string assembled with !Sub: cfn-lint cannot parse it, and
# CloudFormation only rejects it at deploy time. Substitute every ${...} (Number parameters
# by a number, the !Sub variable map's entries by "", which leaves optional parts out,
# anything else by a word inside its quotes) and require valid JSON with complete widgets.
check_dashboards() {
    "$SAM_VENV/bin/python" - "${templates[@]}" <<'PY'
import json, re, sys
from cfnlint.decode import decode

bad, seen = [], 0
for path in sys.argv[1:]:
    template, errors = decode(path)
    if errors:
        bad.append(f"{path}: cannot parse")
        continue
    numbers = {n for n, p in (template.get("Parameters") or {}).items() if p.get("Type") == "Number"}
    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        seen += 1
        body = resource["Properties"]["DashboardBody"]
        text, variables = body, {}
        if isinstance(body, dict) and set(body) == {"Fn::Sub"}:
            sub = body["Fn::Sub"]
            text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
        if not isinstance(text, str):
            bad.append(f"{path} {name}: DashboardBody is neither a string nor !Sub of one")
            continue
        def value(m):
            key = m.group(1)
            return "" if key in variables else "1" if key in numbers else "x"
        try:
            doc = json.loads(re.sub(r"\$\{([^}!]+)\}", value, text))
        except ValueError as e:
            bad.append(f"{path} {name}: DashboardBody is not JSON: {e}")
            continue
        for i, w in enumerate(doc.get("widgets") or []):
            missing = {"type", "x", "y", "width", "height", "properties"} - set(w)
            if missing:
                bad.append(f"{path} {name}: widget {i} lacks {sorted(missing)}")
        if not doc.get("widgets"):
            bad.append(f"{path} {name}: no widgets")
print(f"    {seen} dashboards checked")
for b in bad:
    print(f"    {b}")
sys.exit(1 if bad or not seen else 0)
PY
}

# A StackSet passes parameters to another template that cfn-lint never sees together with
# it: every key passed (stack set Parameters and each instance group's ParameterOverrides,
# both branches of an !If) must be a parameter of the target template, every parameter the
# target requires (no Default) must be set, an override must override a stack set
# parameter, a literal value must satisfy the target's AllowedValues/AllowedPattern, a
# referenced parameter's AllowedValues must fit the target's, and a target with named IAM
# roles needs CAPABILITY_NAMED_IAM. The checker also runs on mutated copies: each mutation
# must be caught, so a checker that finds nothing fails too.
check_stacksets() {
    "$SAM_VENV/bin/python" - "${templates[@]}" <<'PY'
import copy, os, re, sys
from cfnlint.decode import decode

def branches(node):
    """The values of a list item: both sides of an Fn::If, AWS::NoValue dropped."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        for side in node["Fn::If"][1:]:
            yield from branches(side)
    elif isinstance(node, dict) and node.get("Ref") == "AWS::NoValue":
        return
    else:
        yield node

def check(source, target, name):
    errors = []
    src_params = source.get("Parameters") or {}
    tgt_params = target.get("Parameters") or {}
    for rid, res in (source.get("Resources") or {}).items():
        if res.get("Type") != "AWS::CloudFormation::StackSet":
            continue
        props = res.get("Properties") or {}
        where = f"{name} {rid}"
        base = {}
        for item in props.get("Parameters") or []:
            for p in branches(item):
                key = p.get("ParameterKey")
                if key in base:
                    errors.append(f"{where}: {key} passed twice")
                base[key] = p.get("ParameterValue")
        overrides = []
        for group in props.get("StackInstancesGroup") or []:
            for g in branches(group):
                for item in g.get("ParameterOverrides") or []:
                    for p in branches(item):
                        overrides.append((p.get("ParameterKey"), p.get("ParameterValue")))
        for key, value in list(base.items()) + overrides:
            if key not in tgt_params:
                errors.append(f"{where}: {key} is not a parameter of the target template")
                continue
            spec = tgt_params[key]
            ref = value.get("Ref") if isinstance(value, dict) and set(value) == {"Ref"} else None
            if isinstance(value, str):
                allowed = spec.get("AllowedValues")
                if allowed and value not in [str(a) for a in allowed]:
                    errors.append(f"{where}: {key}={value!r} not in {allowed}")
                pattern = spec.get("AllowedPattern")
                if pattern and not re.fullmatch(pattern, value):
                    errors.append(f"{where}: {key}={value!r} does not match {pattern}")
            elif ref in src_params:
                src_allowed = src_params[ref].get("AllowedValues")
                tgt_allowed = spec.get("AllowedValues")
                if tgt_allowed and not src_allowed:
                    errors.append(f"{where}: {key} takes {tgt_allowed}, {ref} is unconstrained")
                elif tgt_allowed and not set(map(str, src_allowed)) <= set(map(str, tgt_allowed)):
                    errors.append(f"{where}: {ref} allows {src_allowed}, {key} only {tgt_allowed}")
            elif ref is None:
                errors.append(f"{where}: {key} has a value this check cannot read: {value!r}")
        for key, _ in overrides:
            if key not in base:
                errors.append(f"{where}: override of {key}, which the stack set does not pass")
        for key, spec in tgt_params.items():
            if "Default" not in spec and key not in base:
                errors.append(f"{where}: required parameter {key} of the target is not set")
        named_roles = any(
            r.get("Type") == "AWS::IAM::Role" and "RoleName" in (r.get("Properties") or {})
            for r in (target.get("Resources") or {}).values())
        if named_roles and "CAPABILITY_NAMED_IAM" not in (props.get("Capabilities") or []):
            errors.append(f"{where}: the target names IAM roles, Capabilities lacks CAPABILITY_NAMED_IAM")
    return errors

pairs = []
for path in sys.argv[1:]:
    template, errs = decode(path)
    if errs:
        print(f"    {path}: cannot parse")
        sys.exit(1)
    for rid, res in (template.get("Resources") or {}).items():
        if res.get("Type") != "AWS::CloudFormation::StackSet":
            continue
        url = (res.get("Properties") or {}).get("TemplateURL")
        if not isinstance(url, str) or "://" in url:
            print(f"    {path} {rid}: TemplateURL must be a local path (sam deploy uploads it)")
            sys.exit(1)
        target_path = os.path.join(os.path.dirname(path), url)
        target, errs = decode(target_path)
        if errs:
            print(f"    {target_path}: cannot parse")
            sys.exit(1)
        pairs.append((path, rid, template, target))
if not pairs:
    print("    no StackSet found")
    sys.exit(1)

def set_params(t, rid, edit):
    ps = t["Resources"][rid]["Properties"]["Parameters"]
    ps[:] = [q for q in (edit(dict(p)) for p in ps) if q]
def drop(key):
    return lambda p: None if p.get("ParameterKey") == key else p
def rename(key):
    return lambda p: {**p, "ParameterKey": key + "Typo"} if p.get("ParameterKey") == key else p
def literal(key, value):
    return lambda p: {**p, "ParameterValue": value} if p.get("ParameterKey") == key else p
mutations = [
    ("required MonitoringAccountId dropped", lambda t, rid: set_params(t, rid, drop("MonitoringAccountId"))),
    ("OptInTagKey misspelt", lambda t, rid: set_params(t, rid, rename("OptInTagKey"))),
    ("CreateCrossAccountRole=maybe", lambda t, rid: set_params(t, rid, literal("CreateCrossAccountRole", "maybe"))),
    ("no CAPABILITY_NAMED_IAM", lambda t, rid: t["Resources"][rid]["Properties"].update(Capabilities=[])),
]
bad = []
for path, rid, template, target in pairs:
    for label, mutate in mutations:
        mutated = copy.deepcopy(template)
        mutate(mutated, rid)
        if not check(mutated, target, path):
            bad.append(f"{path} {rid}: the check misses a mutation: {label}")
    bad += check(template, target, path)
    n = len(template["Resources"][rid]["Properties"].get("Parameters") or [])
    print(f"    {path} {rid}: {n} parameters passed, {len(target.get('Parameters') or {})} in the target; {len(mutations)} mutations caught")
for b in bad:
    print(f"    {b}")
sys.exit(1 if bad else 0)
PY
}

# infra/destroy.sh against a stub `aws` that records its calls (nothing reaches AWS): the
# stacks go in reverse deploy order, the retained archive is deleted only when asked, and
# a stack that does not exist is skipped.
check_destroy() {
    local dir rc=0
    dir=$(mktemp -d)
    cat >"$dir/aws" <<'STUB'
#!/usr/bin/env bash
echo "$*" >>"$STUB_LOG"
case "$*" in
*"describe-stacks --stack-name sagewatch-workload "*) exit 254 ;; # not deployed here
*describe-stacks*) echo CREATE_COMPLETE ;;
*list-stacks*) printf 'sagewatch-alarm-job-1\tsagewatch-endpoint-ep-1\tother-stack\n' ;;
*"kms describe-key"*) echo key-1234 ;;
esac
STUB
    chmod +x "$dir/aws"
    deletes() { grep -E 'delete-stack|delete-log-group|schedule-key-deletion' "$STUB_LOG" |
        sed -E 's/^--region [a-z0-9-]+ //; s/--stack-name //; s/--log-group-name //' |
        awk '{print $2, $3}' | paste -sd ' ' -; }
    export STUB_LOG=$dir/calls
    : >"$STUB_LOG"
    AWS="$dir/aws" bash infra/destroy.sh --region us-east-1 --yes --delete-archive all >"$dir/out" 2>&1 || rc=1
    local want="delete-stack sagewatch-alarm-job-1 delete-stack sagewatch-endpoint-ep-1"
    want+=" delete-stack sagewatch-monitoring delete-stack sagewatch"
    want+=" delete-log-group /aws/events/sagewatch-sagemaker"
    want+=" delete-log-group /aws/events/sagewatch-sagemaker-api-calls schedule-key-deletion --key-id"
    local got
    got=$(deletes)
    if [[ $got != "$want" ]]; then
        echo "    all --delete-archive: got:  $got"
        echo "                          want: $want"
        rc=1
    fi
    : >"$STUB_LOG"
    AWS="$dir/aws" bash infra/destroy.sh --yes app organization >"$dir/out" 2>&1 || rc=1
    got=$(deletes)
    want="delete-stack sagewatch-management delete-stack sagewatch"
    if [[ $got != "$want" ]]; then
        echo "    organization app: got: $got; want: $want"
        rc=1
    fi
    if ! grep -q "Retained on purpose" "$dir/out"; then
        echo "    app without --delete-archive does not say what it retained"
        rc=1
    fi
    : >"$STUB_LOG"
    AWS="$dir/aws" bash infra/destroy.sh --dry-run all >"$dir/out" 2>&1 || rc=1
    if [[ -n $(deletes) ]]; then
        echo "    --dry-run deleted: $(deletes)"
        rc=1
    fi
    ((rc == 0)) && echo "    reverse order, archive only when asked, dry run deletes nothing"
    rm -rf "$dir"
    return "$rc"
}

step "cfn-lint ${templates[*]}" \
    "$SAM_VENV/bin/cfn-lint" --include-checks I -- "${templates[@]}"
step "sam validate --lint infra/template.yaml" \
    "$SAM_VENV/bin/sam" validate --lint --template-file infra/template.yaml --region us-east-1
step "IAM actions exist" check_iam_actions
step "dashboard bodies are JSON" check_dashboards
step "StackSet parameters match their template" check_stacksets
step "destroy.sh order (stub aws)" check_destroy
step "checkov ${templates[*]}" run_checkov

if ((${#failed[@]})); then
    printf -v list '%s; ' "${failed[@]}"
    echo "infra/validate.sh: FAILED: ${list%; } ($((SECONDS - START)) s)"
    exit 1
fi
echo "infra/validate.sh: all templates valid ($((SECONDS - START)) s)"
