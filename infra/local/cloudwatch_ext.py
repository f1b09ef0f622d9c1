"""CloudWatch alarm fixes for moto 5.2.5.

Why (verified against moto 5.2.5):
- A new alarm starts in `OK`; on AWS it starts in `INSUFFICIENT_DATA`, and
  re-putting an existing alarm keeps its state. moto also resets it.
- SetAlarmState never invokes actions. On AWS, "when the updated state differs
  from the previous value, the action configured for the appropriate state is
  invoked": here SNS topic actions get the standard CloudWatch alarm JSON
  notification, so alarm -> SNS -> SQS/Lambda flows can be tested.
- GetMetricData ignores a MetricStat's Namespace as soon as it has Dimensions,
  mixing e.g. /aws/sagemaker/TrainingJobs and a custom namespace with the same
  Host dimension. Here each MetricStat query only sees its own namespace.
- PutMetricAlarm drops each metric query's AccountId (cross-account observability
  alarms); here it is kept and DescribeAlarms returns it.
- The SNS notification of a metric-math alarm lists its queries without their
  MetricStat (and AccountId); CloudWatch's has both: here they are included.
Alarms are still never *evaluated* against metric data (see README).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.sns.models import sns_backends

REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
}


def _iso(t: dt.datetime) -> str:
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def _query_doc(q: Any) -> dict[str, Any]:
    """One entry of Trigger.Metrics as CloudWatch writes it (lower-case dimension keys)."""
    doc: dict[str, Any] = {"Id": q.id, "ReturnData": q.return_data}
    if q.expression:
        doc["Expression"] = q.expression
    if q.label:
        doc["Label"] = q.label
    if getattr(q, "account_id", None):
        doc["AccountId"] = q.account_id
    stat = q.metric_stat
    if stat is not None:
        doc["MetricStat"] = {
            "Metric": {
                "Dimensions": [{"value": d.value, "name": d.name} for d in stat.metric.dimensions],
                "MetricName": stat.metric.metric_name,
                "Namespace": stat.metric.namespace,
            },
            "Period": int(stat.period) if stat.period is not None else None,
            "Stat": stat.stat,
        }
    return doc


def notification(alarm: Any, account_id: str, old_state: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to SNS when an alarm changes state."""
    trigger: dict[str, Any] = {
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "StatisticType": "ExtendedStatistic" if alarm.extended_statistic else "Statistic",
        "Statistic": (alarm.statistic or "").upper() or None,
        "Unit": alarm.unit,
        "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm or alarm.evaluation_periods,
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": alarm.threshold,
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }
    if alarm.extended_statistic:
        trigger["ExtendedStatistic"] = alarm.extended_statistic
    if alarm.metric_data_queries:
        trigger["Metrics"] = [_query_doc(q) for q in alarm.metric_data_queries]
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": _iso(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _iso(alarm.state_updated_timestamp),
        "Region": REGION_NAMES.get(alarm.region_name, alarm.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": trigger,
    }


def _fire_actions(backend: CloudWatchBackend, alarm: Any, old_state: str) -> None:
    if not alarm.actions_enabled or alarm.state_value == old_state:
        return
    actions = {
        "ALARM": alarm.alarm_actions or [],
        "OK": alarm.ok_actions,
        "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
    }[alarm.state_value]
    doc = notification(alarm, backend.account_id, old_state)
    region_label = REGION_NAMES.get(alarm.region_name, alarm.region_name)
    subject = f'{alarm.state_value}: "{alarm.name}" in {region_label}'[:100]
    for arn in actions:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "sns":
            continue  # autoscaling/EC2/SSM actions are not emulated
        try:
            sns_backends[parts[4]][parts[3]].publish(
                message=json.dumps(doc), arn=arn, subject=subject
            )
        except Exception:  # noqa: BLE001 - AWS ignores undeliverable actions too
            continue


_scope = threading.local()


def install() -> None:
    original_all = CloudWatchBackend.get_all_metrics
    original_get = CloudWatchBackend.get_metric_data

    def get_all_metrics(self: CloudWatchBackend) -> Any:
        data = original_all(self)
        namespace = getattr(_scope, "namespace", None)
        return data if namespace is None else [md for md in data if md.namespace == namespace]

    def get_metric_data(self: CloudWatchBackend, queries: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        if not all("MetricStat" in q for q in queries):
            return original_get(self, queries, *args, **kwargs)  # metric math: moto as is
        results = []
        for query in queries:
            _scope.namespace = query["MetricStat"]["Metric"]["Namespace"]
            try:
                results.extend(original_get(self, [query], *args, **kwargs))
            finally:
                _scope.namespace = None
        return results

    CloudWatchBackend.get_all_metrics = get_all_metrics
    CloudWatchBackend.get_metric_data = get_metric_data
    original_put = CloudWatchBackend.put_metric_alarm
    original_set = CloudWatchBackend.set_alarm_state

    def put_metric_alarm(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        name = kwargs.get("name", args[0] if args else None)
        previous = self.alarms.get(name)
        alarm = original_put(self, *args, **kwargs)
        if previous is not None:
            for attr in ("state_value", "state_reason", "state_reason_data",
                         "state_updated_timestamp", "history"):
                setattr(alarm, attr, getattr(previous, attr))
        else:
            alarm.state_value = "INSUFFICIENT_DATA"
        return alarm

    def set_alarm_state(self: CloudWatchBackend, alarm_name: str, *args: Any, **kwargs: Any) -> None:
        previous = self.alarms.get(alarm_name)
        old_state = previous.state_value if previous is not None else None
        original_set(self, alarm_name, *args, **kwargs)
        if previous is not None and old_state is not None:
            _fire_actions(self, self.alarms[alarm_name], old_state)

    CloudWatchBackend.put_metric_alarm = put_metric_alarm
    CloudWatchBackend.set_alarm_state = set_alarm_state

    original_response_put = CloudWatchResponse.put_metric_alarm

    def response_put_metric_alarm(self: CloudWatchResponse) -> Any:
        result = original_response_put(self)
        alarm = self.cloudwatch_backend.alarms.get(self._get_param("AlarmName"))
        queries = getattr(alarm, "metric_data_queries", None) or []
        # The backend keeps the queries in request order.
        for query, raw in zip(queries, self._get_param("Metrics", []) or []):
            query.account_id = raw.get("AccountId")
        return result

    CloudWatchResponse.put_metric_alarm = response_put_metric_alarm
