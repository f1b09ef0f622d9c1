//! Which training job an alarm is about — exactly, or not at all.
//!
//! SageMaker Debugger matched jobs by name prefix and refused when several matched. We never
//! match by prefix or substring: the job is the value of a `TrainingJobName` dimension, or the
//! `<job>` of a `Host` dimension `<job>/algo-<n>`, in the single-metric trigger or in any
//! `MetricStat` of a metric-math alarm. No job, or two different jobs, is a refusal.

use sagewatch::alarm::AlarmNotification;
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

pub fn resolve_job(alarm: &AlarmNotification) -> Resolution {
    let mut jobs = BTreeSet::new();
    for metric in &alarm.metrics {
        for (name, value) in &metric.dimensions {
            let job = match name.as_str() {
                "TrainingJobName" => Some(value.as_str()),
                "Host" => job_of_host(value),
                _ => None,
            };
            if let Some(job) = job.map(str::trim).filter(|j| !j.is_empty()) {
                jobs.insert(job.to_owned());
            }
        }
    }
    match jobs.len() {
        0 => Resolution::NoJob,
        1 => Resolution::Job(jobs.into_iter().next().unwrap_or_default()),
        _ => Resolution::Ambiguous(jobs.into_iter().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_dimension_maps_to_its_job() {
        assert_eq!(job_of_host("train-1/algo-1"), Some("train-1"));
        assert_eq!(job_of_host("a/b/algo-12"), Some("a/b"));
        assert_eq!(job_of_host("train-1/algo-"), None);
        assert_eq!(job_of_host("train-1/worker-1"), None);
        assert_eq!(job_of_host("/algo-1"), None);
        assert_eq!(job_of_host("train-1"), None);
    }
}
