//! CloudWatch alarm state changes, from either delivery path:
//!
//! * an SNS notification (`Records[].Sns.Message` is the alarm as a JSON *string*), and
//! * CloudWatch's direct Lambda alarm action (`alarmData`, camelCase, dimensions as a map).
//!
//! Both become one [`AlarmNotification`]. Real notifications carry `AlarmDescription: null`,
//! `Region` as a display name ("US East (N. Virginia)"), `+0000` offsets and lowercase
//! `{"name","value"}` dimensions; the stock `CloudWatchAlarmPayload` rejects some of these,
//! so the raw shapes here accept them. Region and account are read from `AlarmArn`.

use crate::serde_util::{lenient_f64, lenient_string, scalar_text};
use crate::time::flexible;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
    Other(String),
}

impl AlarmState {
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_uppercase().as_str() {
            "ALARM" => AlarmState::Alarm,
            "OK" => AlarmState::Ok,
            "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
            _ => AlarmState::Other(raw.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
            AlarmState::Other(s) => s,
        }
    }
}

/// One metric the alarm watches (a single-metric trigger, or one `MetricStat` of metric math).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmMetric {
    pub id: Option<String>,
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    /// (name, value) in the order given.
    pub dimensions: Vec<(String, String)>,
    /// The account the metric is read from, when a cross-account (observability) metric-math
    /// alarm says so (`AccountId` of the query); `None`: the alarm's own account.
    pub account_id: Option<String>,
}

impl AlarmMetric {
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the notification reached us.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Delivery {
    Sns {
        message_id: Option<String>,
        topic_arn: Option<String>,
    },
    LambdaAction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmNotification {
    pub alarm_name: String,
    pub alarm_arn: Option<String>,
    pub description: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub new_state: AlarmState,
    pub old_state: Option<AlarmState>,
    pub reason: Option<String>,
    pub state_change_time: Option<DateTime<Utc>>,
    pub metrics: Vec<AlarmMetric>,
    /// Metric-math expressions, when the alarm uses them.
    pub expressions: Vec<String>,
    pub threshold: Option<f64>,
    pub comparison_operator: Option<String>,
    pub delivery: Delivery,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlarmError {
    #[error(
        "payload is neither an SNS event (Records[].Sns) nor a CloudWatch alarm action (alarmData)"
    )]
    UnknownPayload,
    #[error("record {index}: no Sns.Message string")]
    NoMessage { index: usize },
    #[error("record {index}: message is not an alarm notification: {reason}")]
    NotAnAlarm { index: usize, reason: String },
}

/// Parses either delivery shape into one result per alarm (one per SNS record), so a bad
/// record never hides the good ones.
pub fn alarms_from_payload(
    payload: &Value,
) -> Result<Vec<Result<AlarmNotification, AlarmError>>, AlarmError> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        return Ok(records
            .iter()
            .enumerate()
            .map(|(i, r)| from_sns_record(i, r))
            .collect());
    }
    if payload.get("alarmData").is_some() {
        return Ok(vec![from_lambda_action(payload)]);
    }
    Err(AlarmError::UnknownPayload)
}

fn from_sns_record(index: usize, record: &Value) -> Result<AlarmNotification, AlarmError> {
    let sns = record.get("Sns").or_else(|| record.get("sns"));
    let message = sns
        .and_then(|s| s.get("Message"))
        .and_then(Value::as_str)
        .ok_or(AlarmError::NoMessage { index })?;
    let raw: SnsAlarm = serde_json::from_str(message).map_err(|e| AlarmError::NotAnAlarm {
        index,
        reason: e.to_string(),
    })?;
    let text = |k: &str| {
        sns.and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(raw.into_notification(Delivery::Sns {
        message_id: text("MessageId"),
        topic_arn: text("TopicArn"),
    }))
}

fn from_lambda_action(payload: &Value) -> Result<AlarmNotification, AlarmError> {
    let raw: LambdaAlarmAction =
        serde_json::from_value(payload.clone()).map_err(|e| AlarmError::NotAnAlarm {
            index: 0,
            reason: e.to_string(),
        })?;
    Ok(raw.into_notification())
}

/// `arn:aws:cloudwatch:<region>:<account>:alarm:<name>` → (region, account).
pub fn region_and_account_from_arn(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.splitn(6, ':');
    let (arn_word, _partition, _service) = (parts.next()?, parts.next()?, parts.next()?);
    let (region, account) = (parts.next()?, parts.next()?);
    (arn_word == "arn" && !region.is_empty() && !account.is_empty())
        .then(|| (region.to_owned(), account.to_owned()))
}

// ---- SNS notification shape -------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsAlarm {
    alarm_name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    alarm_description: Option<String>,
    #[serde(default, rename = "AWSAccountId", deserialize_with = "lenient_string")]
    aws_account_id: Option<String>,
    new_state_value: String,
    #[serde(default, deserialize_with = "lenient_string")]
    new_state_reason: Option<String>,
    #[serde(default, deserialize_with = "flexible")]
    state_change_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_string")]
    alarm_arn: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    old_state_value: Option<String>,
    #[serde(default)]
    trigger: Option<SnsTrigger>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SnsTrigger {
    #[serde(deserialize_with = "lenient_string")]
    metric_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    namespace: Option<String>,
    #[serde(deserialize_with = "dimension_list")]
    dimensions: Vec<(String, String)>,
    #[serde(deserialize_with = "lenient_string")]
    comparison_operator: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    threshold: Option<f64>,
    metrics: Vec<SnsMetricDataQuery>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SnsMetricDataQuery {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    expression: Option<String>,
    metric_stat: Option<SnsMetricStat>,
    #[serde(deserialize_with = "lenient_string")]
    account_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SnsMetricStat {
    metric: SnsMetric,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SnsMetric {
    #[serde(deserialize_with = "dimension_list")]
    dimensions: Vec<(String, String)>,
    #[serde(deserialize_with = "lenient_string")]
    metric_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    namespace: Option<String>,
}

/// `[{"name": "..", "value": ".."}]`, in either key case; also tolerates a map.
fn dimension_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(dimensions_from_value(value.as_ref()))
}

fn dimensions_from_value(value: Option<&Value>) -> Vec<(String, String)> {
    let text = scalar_text;
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| {
                let name = item.get("name").or_else(|| item.get("Name"))?;
                let value = item.get("value").or_else(|| item.get("Value"))?;
                Some((text(name), text(value)))
            })
            .collect(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        _ => Vec::new(),
    }
}

impl SnsAlarm {
    fn into_notification(self, delivery: Delivery) -> AlarmNotification {
        let trigger = self.trigger.unwrap_or_default();
        let mut metrics = Vec::new();
        let mut expressions = Vec::new();
        if trigger.metric_name.is_some() || !trigger.dimensions.is_empty() {
            metrics.push(AlarmMetric {
                id: None,
                namespace: trigger.namespace,
                metric_name: trigger.metric_name,
                dimensions: trigger.dimensions,
                account_id: None,
            });
        }
        for q in trigger.metrics {
            if let Some(expr) = q.expression {
                expressions.push(expr);
            }
            if let Some(stat) = q.metric_stat {
                metrics.push(AlarmMetric {
                    id: q.id,
                    namespace: stat.metric.namespace,
                    metric_name: stat.metric.metric_name,
                    dimensions: stat.metric.dimensions,
                    account_id: non_empty(q.account_id),
                });
            }
        }
        let (region, account) = split_arn(self.alarm_arn.as_deref(), self.aws_account_id);
        AlarmNotification {
            alarm_name: self.alarm_name,
            alarm_arn: self.alarm_arn,
            description: self.alarm_description,
            account,
            region,
            new_state: AlarmState::parse(&self.new_state_value),
            old_state: self.old_state_value.as_deref().map(AlarmState::parse),
            reason: self.new_state_reason,
            state_change_time: self.state_change_time,
            metrics,
            expressions,
            threshold: trigger.threshold,
            comparison_operator: trigger.comparison_operator,
            delivery,
        }
    }
}

/// An empty or blank `AccountId` is no account (the alarm's own).
fn non_empty(account: Option<String>) -> Option<String> {
    account
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
}

fn split_arn(
    arn: Option<&str>,
    fallback_account: Option<String>,
) -> (Option<String>, Option<String>) {
    match arn.and_then(region_and_account_from_arn) {
        Some((region, account)) => (Some(region), Some(account)),
        None => (None, fallback_account),
    }
}

// ---- Direct Lambda alarm action shape ---------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaAlarmAction {
    #[serde(default, deserialize_with = "lenient_string")]
    alarm_arn: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    region: Option<String>,
    alarm_data: LambdaAlarmData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaAlarmData {
    alarm_name: String,
    state: LambdaAlarmState,
    #[serde(default)]
    previous_state: Option<LambdaAlarmState>,
    #[serde(default)]
    configuration: LambdaAlarmConfiguration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaAlarmState {
    value: String,
    #[serde(default, deserialize_with = "lenient_string")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "flexible")]
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LambdaAlarmConfiguration {
    #[serde(deserialize_with = "lenient_string")]
    description: Option<String>,
    metrics: Vec<LambdaMetricQuery>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LambdaMetricQuery {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    expression: Option<String>,
    metric_stat: Option<LambdaMetricStat>,
    #[serde(deserialize_with = "lenient_string")]
    account_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LambdaMetricStat {
    metric: LambdaMetric,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LambdaMetric {
    #[serde(deserialize_with = "lenient_string")]
    namespace: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(deserialize_with = "dimension_list")]
    dimensions: Vec<(String, String)>,
}

impl LambdaAlarmAction {
    fn into_notification(self) -> AlarmNotification {
        let data = self.alarm_data;
        let mut metrics = Vec::new();
        let mut expressions = Vec::new();
        for q in data.configuration.metrics {
            if let Some(expr) = q.expression {
                expressions.push(expr);
            }
            if let Some(stat) = q.metric_stat {
                metrics.push(AlarmMetric {
                    id: q.id,
                    namespace: stat.metric.namespace,
                    metric_name: stat.metric.name,
                    dimensions: stat.metric.dimensions,
                    account_id: non_empty(q.account_id),
                });
            }
        }
        let (region, account) = match self
            .alarm_arn
            .as_deref()
            .and_then(region_and_account_from_arn)
        {
            Some((r, a)) => (Some(r), Some(a)),
            None => (self.region, self.account_id),
        };
        AlarmNotification {
            alarm_name: data.alarm_name,
            alarm_arn: self.alarm_arn,
            description: data.configuration.description,
            account,
            region,
            new_state: AlarmState::parse(&data.state.value),
            old_state: data
                .previous_state
                .as_ref()
                .map(|s| AlarmState::parse(&s.value)),
            reason: data.state.reason,
            state_change_time: data.state.timestamp,
            metrics,
            expressions,
            threshold: None,
            comparison_operator: None,
            delivery: Delivery::LambdaAction,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sns(message: &str) -> Value {
        json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:alarms", "Message": message}}]})
    }

    const CLASSIC: &str = r#"{"AlarmName":"overfit","AlarmDescription":null,"AWSAccountId":"123456789012",
      "NewStateValue":"ALARM","NewStateReason":"Threshold Crossed","StateChangeTime":"2017-10-30T13:20:35.831+0000",
      "Region":"US East (N. Virginia)","AlarmArn":"arn:aws:cloudwatch:us-east-1:123456789012:alarm:overfit",
      "OldStateValue":"OK","Trigger":{"MetricName":"validation:loss","Namespace":"/aws/sagemaker/TrainingJobs",
      "StatisticType":"Statistic","Statistic":"AVERAGE","Unit":null,
      "Dimensions":[{"value":"train-1","name":"TrainingJobName"}],"Period":60,"EvaluationPeriods":3,
      "ComparisonOperator":"GreaterThanThreshold","Threshold":0.5,"TreatMissingData":"- TreatMissingData: missing"}}"#;

    #[test]
    fn classic_notification_with_real_quirks() {
        let alarms = alarms_from_payload(&sns(CLASSIC)).unwrap();
        let a = alarms[0].as_ref().unwrap();
        assert_eq!(a.new_state, AlarmState::Alarm);
        assert_eq!(a.description, None);
        assert_eq!(a.region.as_deref(), Some("us-east-1"));
        assert_eq!(a.account.as_deref(), Some("123456789012"));
        assert_eq!(
            a.state_change_time.unwrap().timestamp_millis(),
            1509369635831
        );
        assert_eq!(a.metrics[0].dimension("TrainingJobName"), Some("train-1"));
        assert_eq!(a.threshold, Some(0.5));
    }

    #[test]
    fn poison_state_change_time_is_none() {
        let far = CLASSIC.replace(
            "2017-10-30T13:20:35.831+0000",
            "9999-12-31T23:59:59.999+0000",
        );
        let alarms = alarms_from_payload(&sns(&far)).unwrap();
        let a = alarms[0].as_ref().unwrap();
        assert_eq!(a.state_change_time, None);
        assert_eq!(a.new_state, AlarmState::Alarm);
        let action = json!({"alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a",
            "alarmData": {"alarmName": "a", "state": {"value": "ALARM", "timestamp": i64::MAX}}});
        let alarms = alarms_from_payload(&action).unwrap();
        assert_eq!(alarms[0].as_ref().unwrap().state_change_time, None);
    }

    #[test]
    fn arn_parsing() {
        assert_eq!(
            region_and_account_from_arn("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:a:b:c"),
            Some(("eu-west-1".into(), "111122223333".into()))
        );
        assert_eq!(region_and_account_from_arn("nope"), None);
        assert_eq!(
            region_and_account_from_arn("arn:aws:cloudwatch:::alarm:x"),
            None
        );
    }

    #[test]
    fn cross_account_metric_queries_carry_their_account() {
        // Cross-account observability: each MetricDataQuery may name the account it reads.
        let message = json!({"AlarmName": "x", "NewStateValue": "ALARM",
            "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:x",
            "Trigger": {"Metrics": [
                {"Id": "m_train", "AccountId": "111122223333", "MetricStat": {"Metric": {
                    "Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "train:loss",
                    "Dimensions": [{"name": "TrainingJobName", "value": "j"}]}}},
                {"Id": "m_val", "AccountId": 111122223333_u64, "MetricStat": {"Metric": {
                    "Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "validation:loss",
                    "Dimensions": [{"name": "TrainingJobName", "value": "j"}]}}},
                {"Id": "m_other", "AccountId": " ", "MetricStat": {"Metric": {"MetricName": "a"}}},
                {"Id": "m_none", "MetricStat": {"Metric": {"MetricName": "b"}}},
                {"Id": "e", "Expression": "(m_val - m_train) / m_train"}]}});
        let alarms = alarms_from_payload(&sns(&message.to_string())).unwrap();
        let a = alarms[0].as_ref().unwrap();
        let accounts: Vec<Option<&str>> =
            a.metrics.iter().map(|m| m.account_id.as_deref()).collect();
        assert_eq!(
            accounts,
            [Some("111122223333"), Some("111122223333"), None, None]
        );
        assert_eq!(a.account.as_deref(), Some("123456789012"));
        let action = json!({"alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a",
            "alarmData": {"alarmName": "a", "state": {"value": "ALARM"}, "configuration": {
                "metrics": [
                    {"id": "m1", "accountId": "444455556666", "metricStat": {"metric": {
                        "namespace": "/aws/sagemaker/TrainingJobs", "name": "train:loss",
                        "dimensions": {"TrainingJobName": "j"}}}},
                    {"id": "m2", "accountId": null, "metricStat": {"metric": {"name": "x"}}}]}}});
        let alarms = alarms_from_payload(&action).unwrap();
        let a = alarms[0].as_ref().unwrap();
        assert_eq!(a.metrics[0].account_id.as_deref(), Some("444455556666"));
        assert_eq!(a.metrics[1].account_id, None);
    }

    #[test]
    fn a_bad_record_does_not_hide_a_good_one() {
        let payload = json!({"Records": [
            {"Sns": {"Message": "not json"}},
            {"Sns": {}},
            {"Sns": {"Message": CLASSIC}}
        ]});
        let alarms = alarms_from_payload(&payload).unwrap();
        assert!(matches!(
            alarms[0],
            Err(AlarmError::NotAnAlarm { index: 0, .. })
        ));
        assert_eq!(alarms[1], Err(AlarmError::NoMessage { index: 1 }));
        assert!(alarms[2].is_ok());
        assert_eq!(
            alarms_from_payload(&json!({"hello": 1})),
            Err(AlarmError::UnknownPayload)
        );
    }
}
