#!/usr/bin/env bash
# Tears sagewatch down, stack by stack, in the reverse order of deploying it (infra/README.md,
# "Teardown"). Runs with the AWS credentials and region of the account it is pointed at: the
# stacks of one account per run, since CloudFormation stacks cannot be deleted across
# accounts (a StackSet's stacks are removed by deleting the StackSet, in the management
# account).
#
#   bash infra/destroy.sh [options] <what>...
#
# what (any of, always done in this order whatever the order given):
#   organization  the management stack (management-account.yaml): deleting its StackSet
#                 deletes the stack in every account and region of the target OUs first
#   alarms        every per-job stack named <alarm-prefix>* (overfit-alarm.yaml)
#   endpoints     every per-endpoint stack named <endpoint-prefix>* (endpoint-monitoring.yaml)
#   workload      this account's workload-account.yaml stack (manual, per-account deploys)
#   monitoring    monitoring-account.yaml (bus policy statements, OAM sink)
#   app           the application (template.yaml): functions, queues, table, topics, dashboard
#   all           alarms endpoints workload monitoring app (everything one account can hold
#                 except the organization stack)
#
# options:
#   --region R             region (default: AWS_REGION, AWS_DEFAULT_REGION, then the CLI's)
#   --stack NAME           application stack name (default sagewatch)
#   --monitoring-stack N   default sagewatch-monitoring
#   --workload-stack N     default sagewatch-workload
#   --management-stack N   default sagewatch-management
#   --alarm-prefix P       default sagewatch-alarm-
#   --endpoint-prefix P    default sagewatch-endpoint-
#   --delete-archive       after deleting the application stack, also delete what it retains:
#                          the two archive log groups and (scheduled, 30 days) their KMS key
#   --dry-run              print the deleting commands instead of running them
#   --yes                  do not ask before deleting
#
# What is retained after `app` without --delete-archive, and how to remove it by hand, is
# printed at the end (and listed in infra/README.md).
set -euo pipefail

AWS=${AWS:-aws} # a stub can stand in for tests
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
APP_STACK=sagewatch
MONITORING_STACK=sagewatch-monitoring
WORKLOAD_STACK=sagewatch-workload
MANAGEMENT_STACK=sagewatch-management
ALARM_PREFIX=sagewatch-alarm-
ENDPOINT_PREFIX=sagewatch-endpoint-
DELETE_ARCHIVE=false
DRY_RUN=false
ASSUME_YES=false
WANT=()

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-0}"
}

while (($#)); do
    case $1 in
    --region) REGION=$2; shift 2 ;;
    --stack) APP_STACK=$2; shift 2 ;;
    --monitoring-stack) MONITORING_STACK=$2; shift 2 ;;
    --workload-stack) WORKLOAD_STACK=$2; shift 2 ;;
    --management-stack) MANAGEMENT_STACK=$2; shift 2 ;;
    --alarm-prefix) ALARM_PREFIX=$2; shift 2 ;;
    --endpoint-prefix) ENDPOINT_PREFIX=$2; shift 2 ;;
    --delete-archive) DELETE_ARCHIVE=true; shift ;;
    --dry-run) DRY_RUN=true; shift ;;
    --yes | -y) ASSUME_YES=true; shift ;;
    -h | --help) usage 0 ;;
    organization | alarms | endpoints | workload | monitoring | app) WANT+=("$1"); shift ;;
    all) WANT+=(alarms endpoints workload monitoring app); shift ;;
    *) echo "destroy.sh: unknown argument $1" >&2; usage 2 ;;
    esac
done
((${#WANT[@]})) || usage 2
[[ $ALARM_PREFIX == sagewatch-* && $ENDPOINT_PREFIX == sagewatch-* ]] || {
    echo "destroy.sh: prefixes must start with sagewatch- (refusing to match other stacks)" >&2
    exit 2
}

region_args=()
[[ -n $REGION ]] && region_args=(--region "$REGION")
aws_() { "$AWS" "${region_args[@]}" "$@"; }

wants() { local w; for w in "${WANT[@]}"; do [[ $w == "$1" ]] && return 0; done; return 1; }

stack_exists() { # name
    local status
    status=$(aws_ cloudformation describe-stacks --stack-name "$1" \
        --query 'Stacks[0].StackStatus' --output text 2>/dev/null) || return 1
    [[ $status != DELETE_COMPLETE ]]
}

stacks_with_prefix() { # prefix
    aws_ cloudformation list-stacks --output text \
        --stack-status-filter CREATE_COMPLETE UPDATE_COMPLETE UPDATE_ROLLBACK_COMPLETE \
        ROLLBACK_COMPLETE IMPORT_COMPLETE CREATE_FAILED DELETE_FAILED \
        --query "StackSummaries[?starts_with(StackName, '$1')].StackName" | tr '\t' '\n' |
        while read -r name; do [[ $name == "$1"* ]] && echo "$name"; done || true
}

run() { # command... (the deleting ones)
    if $DRY_RUN; then
        [[ $1 == aws_ ]] && set -- "$AWS" "${region_args[@]}" "${@:2}"
        printf '    would run:'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

delete_stack() { # name
    local name=$1
    if ! stack_exists "$name"; then
        echo "==> $name: no such stack, skipped"
        return 0
    fi
    echo "==> deleting stack $name"
    run aws_ cloudformation delete-stack --stack-name "$name"
    run aws_ cloudformation wait stack-delete-complete --stack-name "$name"
}

# --- the plan ------------------------------------------------------------------------

plan=()
wants organization && plan+=("stack $MANAGEMENT_STACK (its StackSet and every stack it deployed)")
if wants alarms; then
    mapfile -t alarm_stacks < <(stacks_with_prefix "$ALARM_PREFIX")
    for s in "${alarm_stacks[@]}"; do plan+=("stack $s"); done
fi
if wants endpoints; then
    mapfile -t endpoint_stacks < <(stacks_with_prefix "$ENDPOINT_PREFIX")
    for s in "${endpoint_stacks[@]}"; do plan+=("stack $s"); done
fi
wants workload && plan+=("stack $WORKLOAD_STACK")
wants monitoring && plan+=("stack $MONITORING_STACK")
wants app && plan+=("stack $APP_STACK")
if wants app && $DELETE_ARCHIVE; then
    plan+=("log groups /aws/events/$APP_STACK-sagemaker, /aws/events/$APP_STACK-sagemaker-api-calls")
    plan+=("KMS key alias/sagewatch/$APP_STACK-archive (scheduled deletion, 30 days)")
fi

echo "sagewatch teardown in ${REGION:-the CLI default region}$($DRY_RUN && echo ' (dry run)'):"
for p in "${plan[@]}"; do echo "  - $p"; done
if ! $ASSUME_YES && ! $DRY_RUN; then
    read -r -p "Delete all of this? Type 'delete' to go on: " answer
    [[ $answer == delete ]] || { echo "nothing deleted"; exit 1; }
fi

# --- in reverse order of deploying ----------------------------------------------------

wants organization && delete_stack "$MANAGEMENT_STACK"
if wants alarms; then for s in "${alarm_stacks[@]}"; do delete_stack "$s"; done; fi
if wants endpoints; then for s in "${endpoint_stacks[@]}"; do delete_stack "$s"; done; fi
wants workload && delete_stack "$WORKLOAD_STACK"
wants monitoring && delete_stack "$MONITORING_STACK"
if wants app; then
    # The archive key's id, read before the stack (and its output) is gone.
    archive_key=$(aws_ kms describe-key --key-id "alias/sagewatch/$APP_STACK-archive" \
        --query KeyMetadata.KeyId --output text 2>/dev/null || true)
    delete_stack "$APP_STACK"
    groups=("/aws/events/$APP_STACK-sagemaker" "/aws/events/$APP_STACK-sagemaker-api-calls")
    if $DELETE_ARCHIVE; then
        for g in "${groups[@]}"; do
            echo "==> deleting retained log group $g"
            run aws_ logs delete-log-group --log-group-name "$g" || true
        done
        if [[ -n $archive_key && $archive_key != None ]]; then
            echo "==> scheduling deletion of the archive key $archive_key (30 days; cancel-key-deletion undoes it)"
            run aws_ kms schedule-key-deletion --key-id "$archive_key" --pending-window-in-days 30
        fi
    else
        cat <<EOF
Retained on purpose (audit), still billed for storage:
  log groups ${groups[0]} and ${groups[1]}
  KMS key ${archive_key:-<the ArchiveKey>} (\$1/month; needed to read the groups)
Re-deploying a stack named $APP_STACK fails while the groups exist. To remove them:
  bash infra/destroy.sh --delete-archive app    (or by hand:)
  aws logs delete-log-group --log-group-name ${groups[0]}
  aws logs delete-log-group --log-group-name ${groups[1]}
  aws kms schedule-key-deletion --key-id <key id> --pending-window-in-days 30
EOF
    fi
fi
echo "destroy.sh: done"
