//! Configuration from the environment, read once per cold start.

use crate::FUNCTION;
use sagewatch::config::{ClaimTable, Common};
use sagewatch::env::Env;
use sagewatch::error::ConfigError;

#[derive(Debug, Clone)]
pub struct Config {
    /// Namespace and home account: metrics of other accounts are read through CloudWatch
    /// cross-account observability (`MetricDataQuery.AccountId`), so no role is assumed.
    pub common: Common,
    /// The claim table (required: every event is counted once).
    pub dedupe_table: String,
    pub dedupe_ttl_days: u32,
    /// Underutilized when the main resource's maximum stays below this percentage.
    pub underutilized_percent: f64,
    /// Tags copied into reports (values redacted); none when empty.
    pub report_tag_keys: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            common: Common::new(FUNCTION),
            dedupe_table: String::new(),
            dedupe_ttl_days: ClaimTable::DEFAULT_TTL_DAYS,
            underutilized_percent: 20.0,
            report_tag_keys: Vec::new(),
        }
    }
}

impl Config {
    /// The shared settings, SAGEWATCH_DEDUPE_TABLE (required) and SAGEWATCH_DEDUPE_TTL_DAYS,
    /// SAGEWATCH_UNDERUTILIZED_PERCENT, SAGEWATCH_REPORT_TAG_KEYS.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Config::default();
        let invalid = |name: &str, value: String, reason: &str| ConfigError::Invalid {
            name: name.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        let table = ClaimTable::required(env)?;
        let pct: f64 = env.parse_or("SAGEWATCH_UNDERUTILIZED_PERCENT", d.underutilized_percent)?;
        if !(0.0..=100.0).contains(&pct) {
            return Err(invalid(
                "SAGEWATCH_UNDERUTILIZED_PERCENT",
                pct.to_string(),
                "must be within 0..=100",
            ));
        }
        Ok(Config {
            common: Common::from_env(env, FUNCTION)?,
            dedupe_table: table.name,
            dedupe_ttl_days: table.ttl_days,
            underutilized_percent: pct,
            report_tag_keys: env.list("SAGEWATCH_REPORT_TAG_KEYS"),
        })
    }
}
