//! Which training job an alarm is about — exactly, or not at all.
//!
//! SageMaker Debugger matched jobs by name prefix and refused when several matched. We never
//! match by prefix or substring: the job is the value of a `TrainingJobName` dimension, or the
//! `<job>` of a `Host` dimension `<job>/algo-<n>`, in the single-metric trigger or in any
//! `MetricStat` of a metric-math alarm. No job, or two different jobs, is a refusal.
//!
//! Only metrics in the training namespace (or namespaces the operator configured for custom
//! training metrics) name a training job: a processing job's `Host=<name>/algo-1` in
//! `/aws/sagemaker/ProcessingJobs` must not stop a training job that shares its name.

use sagewatch::alarm::{AlarmMetric, AlarmNotification};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Job(String),
    NoJob,
    Ambiguous(Vec<String>),
}

/// `train-1/algo-2` → `train-1`; anything else is not a SageMaker training host.
fn job_of_host(host: &str) -> Option<&str> {
    let (job, algo) = host.rsplit_once('/')?;
    let n = algo.strip_prefix("algo-")?;
    (!job.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(job)
}

/// Where SageMaker publishes training jobs' metrics (host metrics and the algorithm's own).
pub const TRAINING_NAMESPACE: &str = "/aws/sagemaker/TrainingJobs";

pub fn resolve_job(alarm: &AlarmNotification, namespaces: &[String]) -> Resolution {
    resolve_metrics(&alarm.metrics, namespaces)
}

/// The same rule over any list of watched metrics (the notification's, or the alarm's own as
/// DescribeAlarms returns them).
pub fn resolve_metrics(metrics: &[AlarmMetric], namespaces: &[String]) -> Resolution {
    let jobs: BTreeSet<String> = metrics
        .iter()
        .flat_map(|m| jobs_named(m, namespaces))
        .collect();
    match jobs.len() {
        0 => Resolution::NoJob,
        1 => Resolution::Job(jobs.into_iter().next().unwrap_or_default()),
        _ => Resolution::Ambiguous(jobs.into_iter().collect()),
    }
}

/// The jobs one metric names (none outside the training namespaces).
fn jobs_named(metric: &AlarmMetric, namespaces: &[String]) -> Vec<String> {
    let training = metric
        .namespace
        .as_deref()
        .is_some_and(|ns| namespaces.iter().any(|allowed| allowed == ns));
    if !training {
        return Vec::new();
    }
    metric
        .dimensions
        .iter()
        .filter_map(|(name, value)| match name.as_str() {
            "TrainingJobName" => Some(value.as_str()),
            "Host" => job_of_host(value),
            _ => None,
        })
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The account the job lives in: the `AccountId` of the metric queries that name it (a
/// cross-account observability alarm reads metrics of other accounts), else the alarm's own.
/// When the metrics naming the job disagree, nobody can tell which account's job is meant:
/// `Err` with the accounts (`-` for the alarm's own when it is unknown).
pub fn job_account(
    metrics: &[AlarmMetric],
    namespaces: &[String],
    job: &str,
    alarm_account: Option<&str>,
) -> Result<Option<String>, Vec<String>> {
    let accounts: BTreeSet<Option<String>> = metrics
        .iter()
        .filter(|m| jobs_named(m, namespaces).iter().any(|j| j == job))
        .map(|m| {
            m.account_id
                .clone()
                .or_else(|| alarm_account.map(str::to_owned))
        })
        .collect();
    if accounts.len() > 1 {
        return Err(accounts
            .into_iter()
            .map(|a| a.unwrap_or_else(|| "-".to_owned()))
            .collect());
    }
    Ok(accounts
        .into_iter()
        .next()
        .flatten()
        .or_else(|| alarm_account.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sagewatch::alarm::alarms_from_payload;

    /// The Host-dimension alarm sample with its trigger moved to `namespace` and `dims`.
    fn alarm_on(namespace: &str, dims: &[(&str, &str)]) -> AlarmNotification {
        let mut payload = sagewatch::testing::sample("alarm-sns-host-dimension.json");
        let raw = payload["Records"][0]["Sns"]["Message"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut message: serde_json::Value = serde_json::from_str(&raw).unwrap();
        message["Trigger"]["Namespace"] = namespace.into();
        message["Trigger"]["Dimensions"] = dims
            .iter()
            .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
            .collect();
        payload["Records"][0]["Sns"]["Message"] = message.to_string().into();
        alarms_from_payload(&payload).unwrap().remove(0).unwrap()
    }

    #[test]
    fn only_training_namespaces_name_a_training_job() {
        let ns = vec![TRAINING_NAMESPACE.to_owned()];
        let processing = alarm_on("/aws/sagemaker/ProcessingJobs", &[("Host", "job-1/algo-1")]);
        assert_eq!(resolve_job(&processing, &ns), Resolution::NoJob);
        let training = alarm_on(TRAINING_NAMESPACE, &[("Host", "job-1/algo-1")]);
        assert_eq!(resolve_job(&training, &ns), Resolution::Job("job-1".into()));
        let custom = alarm_on("Team/Training", &[("TrainingJobName", "job-1")]);
        assert_eq!(resolve_job(&custom, &ns), Resolution::NoJob);
        let with_custom = vec![TRAINING_NAMESPACE.to_owned(), "Team/Training".to_owned()];
        assert_eq!(
            resolve_job(&custom, &with_custom),
            Resolution::Job("job-1".into())
        );
    }

    #[test]
    fn host_dimension_maps_to_its_job() {
        assert_eq!(job_of_host("train-1/algo-1"), Some("train-1"));
        assert_eq!(job_of_host("a/b/algo-12"), Some("a/b"));
        assert_eq!(job_of_host("train-1/algo-"), None);
        assert_eq!(job_of_host("train-1/worker-1"), None);
        assert_eq!(job_of_host("/algo-1"), None);
        assert_eq!(job_of_host("train-1"), None);
    }

    fn metric(job: &str, account: Option<&str>) -> AlarmMetric {
        AlarmMetric {
            id: None,
            namespace: Some(TRAINING_NAMESPACE.into()),
            metric_name: Some("train:loss".into()),
            dimensions: vec![("TrainingJobName".into(), job.into())],
            account_id: account.map(str::to_owned),
        }
    }

    #[test]
    fn the_job_lives_where_the_metrics_naming_it_are_read() {
        let ns = vec![TRAINING_NAMESPACE.to_owned()];
        let home = Some("123456789012");
        let own = [metric("j", None), metric("j", Some("123456789012"))];
        assert_eq!(
            job_account(&own, &ns, "j", home),
            Ok(Some("123456789012".into()))
        );
        let other = [
            metric("j", Some("111122223333")),
            metric("j", Some("111122223333")),
        ];
        assert_eq!(
            job_account(&other, &ns, "j", home),
            Ok(Some("111122223333".into()))
        );
        // Another job's metric in another account does not move this job.
        let mixed_jobs = [metric("j", None), metric("k", Some("111122223333"))];
        assert_eq!(
            job_account(&mixed_jobs, &ns, "j", home),
            Ok(Some("123456789012".into()))
        );
        let split = [metric("j", None), metric("j", Some("111122223333"))];
        assert_eq!(
            job_account(&split, &ns, "j", home),
            Err(vec!["111122223333".into(), "123456789012".into()])
        );
        assert_eq!(job_account(&split[..1], &ns, "j", None), Ok(None));
    }
}
