//! Configuration from the environment (the dedupe table name is the adapter's, read in
//! `main.rs`).

use sagewatch::error::ConfigError;
use sagewatch::runtime::Env;

#[derive(Debug, Clone)]
pub struct Config {
    pub metrics_namespace: String,
    /// The function's own account; metrics of other accounts are read through CloudWatch
    /// cross-account observability (`MetricDataQuery.AccountId`).
    pub home_account: Option<String>,
    pub dedupe_ttl_days: u32,
    /// Underutilized when the main resource's maximum stays below this percentage.
    pub underutilized_percent: f64,
    /// Tags copied into reports (values redacted); none when empty.
    pub report_tag_keys: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            metrics_namespace: "SageWatch".into(),
            home_account: None,
            dedupe_ttl_days: 30,
            underutilized_percent: 20.0,
            report_tag_keys: Vec::new(),
        }
    }
}

impl Config {
    /// SAGEWATCH_METRICS_NAMESPACE, SAGEWATCH_HOME_ACCOUNT, SAGEWATCH_DEDUPE_TTL_DAYS,
    /// SAGEWATCH_UNDERUTILIZED_PERCENT, SAGEWATCH_REPORT_TAG_KEYS (the table name is the adapter's).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Config::default();
        let namespace = env.metrics_namespace()?;
        let invalid = |name: &str, value: String, reason: &str| ConfigError::Invalid {
            name: name.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        let ttl: u32 = env.parse_or("SAGEWATCH_DEDUPE_TTL_DAYS", d.dedupe_ttl_days)?;
        if ttl == 0 {
            return Err(invalid(
                "SAGEWATCH_DEDUPE_TTL_DAYS",
                "0".into(),
                "must be ≥ 1",
            ));
        }
        let pct: f64 = env.parse_or("SAGEWATCH_UNDERUTILIZED_PERCENT", d.underutilized_percent)?;
        if !(0.0..=100.0).contains(&pct) {
            return Err(invalid(
                "SAGEWATCH_UNDERUTILIZED_PERCENT",
                pct.to_string(),
                "must be within 0..=100",
            ));
        }
        Ok(Config {
            metrics_namespace: namespace,
            home_account: env.optional("SAGEWATCH_HOME_ACCOUNT"),
            dedupe_ttl_days: ttl,
            underutilized_percent: pct,
            report_tag_keys: env.list("SAGEWATCH_REPORT_TAG_KEYS"),
        })
    }
}
