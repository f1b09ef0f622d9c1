//! The configuration every function shares, read once per cold start by the function's own
//! `Config::from_env`: the metrics namespace, the home account (with the function-ARN
//! fallback), the cross-account role and the claim store's table.

use crate::env::Env;
use crate::error::ConfigError;
use crate::health::Health;
use crate::target::{account_of_arn, NoCrossAccountRole, Target};

/// Shared settings of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// Stable name: the `Function` dimension of the health counters and the prefix of the
    /// function's claim keys (never the deployed name, which varies per stack).
    pub function: &'static str,
    pub metrics_namespace: String,
    /// The account the function runs in; when unset, the account in the invoked ARN.
    pub home_account: Option<String>,
    /// Role name (the same in every account) assumed for resources in other accounts.
    pub cross_account_role: Option<String>,
}

impl Common {
    /// Defaults: namespace `SageWatch`, no home account, no role (tests start here).
    pub fn new(function: &'static str) -> Self {
        Common {
            function,
            metrics_namespace: "SageWatch".to_owned(),
            home_account: None,
            cross_account_role: None,
        }
    }

    /// SAGEWATCH_METRICS_NAMESPACE (checked), SAGEWATCH_HOME_ACCOUNT,
    /// SAGEWATCH_CROSS_ACCOUNT_ROLE_NAME.
    pub fn from_env(env: &Env, function: &'static str) -> Result<Self, ConfigError> {
        Ok(Common {
            function,
            metrics_namespace: env.metrics_namespace()?,
            home_account: env.optional("SAGEWATCH_HOME_ACCOUNT"),
            cross_account_role: env.optional("SAGEWATCH_CROSS_ACCOUNT_ROLE_NAME"),
        })
    }

    /// The configured home account, else the account of the invoked function's ARN.
    pub fn home_account(&self, invoked_function_arn: &str) -> Option<String> {
        self.home_account
            .clone()
            .or_else(|| account_of_arn(invoked_function_arn))
    }

    /// Where a resource in `account`/`region` is reached from this function.
    pub fn target(
        &self,
        account: Option<&str>,
        region: Option<&str>,
        home_account: Option<&str>,
    ) -> Result<Target, NoCrossAccountRole> {
        Target::resolve(
            account,
            region,
            home_account,
            self.cross_account_role.as_deref(),
        )
    }

    pub fn health(&self) -> Health {
        Health::new(&self.metrics_namespace, self.function)
    }
}

/// The claim store's table (the shared DynamoDB table of `infra/template.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimTable {
    pub name: String,
    /// Claims expire (DynamoDB TTL) after this many days.
    pub ttl_days: u32,
}

impl ClaimTable {
    pub const DEFAULT_TTL_DAYS: u32 = 30;
    /// Ten years: claims outlive any redelivery by far, and `now + ttl` cannot overflow.
    pub const MAX_TTL_DAYS: u32 = 3650;

    /// SAGEWATCH_DEDUPE_TABLE (unset: `None`) and SAGEWATCH_DEDUPE_TTL_DAYS (1..=3650,
    /// default 30).
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let ttl = env.positive(
            "SAGEWATCH_DEDUPE_TTL_DAYS",
            u64::from(Self::DEFAULT_TTL_DAYS),
        )?;
        let ttl_days = u32::try_from(ttl)
            .ok()
            .filter(|d| *d <= Self::MAX_TTL_DAYS)
            .ok_or_else(|| ConfigError::Invalid {
                name: "SAGEWATCH_DEDUPE_TTL_DAYS".to_owned(),
                value: ttl.to_string(),
                reason: format!("at most {} days", Self::MAX_TTL_DAYS),
            })?;
        Ok(env
            .optional("SAGEWATCH_DEDUPE_TABLE")
            .map(|name| ClaimTable { name, ttl_days }))
    }

    /// For functions that cannot work without the table.
    pub fn required(env: &Env) -> Result<Self, ConfigError> {
        Self::from_env(env)?.ok_or_else(|| ConfigError::Missing {
            name: "SAGEWATCH_DEDUPE_TABLE".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_account_falls_back_to_the_function_arn() {
        let mut c = Common::new("f");
        let arn = "arn:aws:lambda:us-east-1:111122223333:function:f";
        assert_eq!(c.home_account(arn).as_deref(), Some("111122223333"));
        c.home_account = Some("999".into());
        assert_eq!(c.home_account(arn).as_deref(), Some("999"));
        assert_eq!(Common::new("f").home_account(""), None);
    }

    #[test]
    fn another_account_needs_the_role() {
        let mut c = Common::new("f");
        assert!(c.target(Some("2"), None, Some("1")).is_err());
        c.cross_account_role = Some("sagewatch".into());
        let t = c.target(Some("2"), Some("eu-west-1"), Some("1")).unwrap();
        assert_eq!(t.role_arn.as_deref(), Some("arn:aws:iam::2:role/sagewatch"));
    }

    // The only test that sets these variables (tests in one binary share the environment).
    #[test]
    fn the_claim_table_is_read_and_checked_once() {
        std::env::remove_var("SAGEWATCH_DEDUPE_TABLE");
        std::env::remove_var("SAGEWATCH_DEDUPE_TTL_DAYS");
        assert_eq!(ClaimTable::from_env(&Env), Ok(None));
        assert!(ClaimTable::required(&Env).is_err());
        std::env::set_var("SAGEWATCH_DEDUPE_TABLE", "t");
        std::env::set_var("SAGEWATCH_DEDUPE_TTL_DAYS", "0");
        assert!(ClaimTable::from_env(&Env).is_err());
        // Large enough to overflow `now + Duration::days(ttl)` if it were accepted.
        std::env::set_var("SAGEWATCH_DEDUPE_TTL_DAYS", "4000000000");
        assert!(ClaimTable::from_env(&Env).is_err());
        std::env::set_var("SAGEWATCH_DEDUPE_TTL_DAYS", "7");
        assert_eq!(
            ClaimTable::required(&Env),
            Ok(ClaimTable {
                name: "t".into(),
                ttl_days: 7
            })
        );
        std::env::remove_var("SAGEWATCH_DEDUPE_TABLE");
        std::env::remove_var("SAGEWATCH_DEDUPE_TTL_DAYS");
    }
}
