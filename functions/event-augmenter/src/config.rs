//! Configuration from the environment, read once per cold start.

use crate::FUNCTION;
use sagewatch::config::{ClaimTable, Common};
use sagewatch::env::Env;
use sagewatch::error::ConfigError;
use sagewatch::sweep::Settings;

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
    /// The sweep: look-back, settle time, bounds, accounts (`SAGEWATCH_SWEEP_*`).
    pub sweep: Settings,
    /// SAGEWATCH_SWEEP_EVENT_BUS: the bus the sweep re-emits lost state changes on (name or
    /// ARN; unset: none are re-emitted).
    pub sweep_event_bus: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            common: Common::new(FUNCTION),
            dedupe_table: String::new(),
            dedupe_ttl_days: ClaimTable::DEFAULT_TTL_DAYS,
            underutilized_percent: 20.0,
            report_tag_keys: Vec::new(),
            sweep: Settings::default(),
            sweep_event_bus: None,
        }
    }
}

impl Config {
    /// The shared settings, SAGEWATCH_DEDUPE_TABLE (required) and SAGEWATCH_DEDUPE_TTL_DAYS,
    /// SAGEWATCH_UNDERUTILIZED_PERCENT, SAGEWATCH_REPORT_TAG_KEYS, the sweep's
    /// SAGEWATCH_SWEEP_* (`sagewatch::sweep::Settings`; its look-back must be shorter than the
    /// claims' TTL).
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
        let sweep = Settings::from_env(env)?;
        // A job whose claim expired would be counted again by a look-back that reaches it.
        if sweep.lookback >= chrono::Duration::days(i64::from(table.ttl_days)) {
            return Err(invalid(
                "SAGEWATCH_SWEEP_LOOKBACK_MINUTES",
                sweep.lookback.num_minutes().to_string(),
                "must be shorter than SAGEWATCH_DEDUPE_TTL_DAYS",
            ));
        }
        Ok(Config {
            common: Common::from_env(env, FUNCTION)?,
            dedupe_table: table.name,
            dedupe_ttl_days: table.ttl_days,
            underutilized_percent: pct,
            report_tag_keys: env.list("SAGEWATCH_REPORT_TAG_KEYS"),
            sweep,
            sweep_event_bus: env
                .optional("SAGEWATCH_SWEEP_EVENT_BUS")
                .filter(|b| !b.trim().is_empty()),
        })
    }
}
