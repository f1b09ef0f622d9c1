//! Reading the process environment: one reader whose errors name the variable.

use crate::error::ConfigError;
use std::str::FromStr;

/// Reads configuration from the process environment; errors name the variable.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env;

impl Env {
    fn raw(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.raw(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
        })
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        self.raw(name)
    }

    pub fn or(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_owned())
    }

    /// Parses a value with `FromStr`, or uses the default when unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_owned(),
                value: v.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// A whole number of at least 1 (a count, a size, days), or the default when unset.
    pub fn positive(&self, name: &str, default: u64) -> Result<u64, ConfigError> {
        let v: u64 = self.parse_or(name, default)?;
        if v == 0 {
            return Err(ConfigError::Invalid {
                name: name.to_owned(),
                value: "0".to_owned(),
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(v)
    }

    /// `SAGEWATCH_METRICS_NAMESPACE` (default `SageWatch`), checked against CloudWatch's rules
    /// at start-up: a bad value would otherwise drop every metric at run time.
    pub fn metrics_namespace(&self) -> Result<String, ConfigError> {
        const NAME: &str = "SAGEWATCH_METRICS_NAMESPACE";
        let ns = self.or(NAME, "SageWatch");
        if crate::emf::spec::valid_namespace(&ns) {
            Ok(ns)
        } else {
            Err(ConfigError::Invalid {
                name: NAME.to_owned(),
                value: ns,
                reason: "not a valid CloudWatch namespace".to_owned(),
            })
        }
    }

    /// `true/false`, `1/0`, `yes/no`, `on/off` (any case).
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::Invalid {
                    name: name.to_owned(),
                    value: v,
                    reason: "expected true or false".to_owned(),
                }),
            },
        }
    }

    /// A comma-separated list; empty entries dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.raw(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test uses its own variable names: tests run in parallel in one process.
    #[test]
    fn the_metrics_namespace_is_checked_at_start_up() {
        // The only test that sets this variable (tests in one binary share the environment).
        std::env::set_var("SAGEWATCH_METRICS_NAMESPACE", "bad\nname");
        assert!(Env.metrics_namespace().is_err());
        std::env::set_var("SAGEWATCH_METRICS_NAMESPACE", "Team/SageWatch");
        assert_eq!(Env.metrics_namespace().as_deref(), Ok("Team/SageWatch"));
        std::env::remove_var("SAGEWATCH_METRICS_NAMESPACE");
        assert_eq!(Env.metrics_namespace().as_deref(), Ok("SageWatch"));
    }

    #[test]
    fn errors_name_the_variable() {
        let env = Env;
        std::env::remove_var("SW_TEST_MISSING");
        assert_eq!(
            env.required("SW_TEST_MISSING").unwrap_err().to_string(),
            "environment variable SW_TEST_MISSING is not set"
        );
        std::env::set_var("SW_TEST_NUM", "twelve");
        let err = env
            .parse_or::<u64>("SW_TEST_NUM", 5)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SW_TEST_NUM") && err.contains("twelve"),
            "{err}"
        );
        std::env::set_var("SW_TEST_FLAG", "perhaps");
        assert!(env
            .flag("SW_TEST_FLAG", false)
            .unwrap_err()
            .to_string()
            .contains("SW_TEST_FLAG"));
        std::env::set_var("SW_TEST_FLAG2", "Yes");
        assert!(env.flag("SW_TEST_FLAG2", false).unwrap());
        std::env::set_var("SW_TEST_LIST", " a, ,b ");
        assert_eq!(env.list("SW_TEST_LIST"), vec!["a", "b"]);
        std::env::set_var("SW_TEST_ZERO", "0");
        assert!(env
            .positive("SW_TEST_ZERO", 3)
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
        assert_eq!(env.positive("SW_TEST_UNSET_POSITIVE", 3), Ok(3));
        assert_eq!(env.parse_or::<u64>("SW_TEST_UNSET_NUM", 7).unwrap(), 7);
    }
}
