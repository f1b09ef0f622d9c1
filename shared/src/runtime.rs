//! Lambda runtime helpers shared by every function's `main.rs`.

use crate::error::ConfigError;
use std::str::FromStr;

/// JSON logs when `AWS_LAMBDA_LOG_FORMAT=JSON`; level from `AWS_LAMBDA_LOG_LEVEL`, then
/// `RUST_LOG`, then INFO. The runtime crate's subscriber does exactly this, so we use it.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Loads the AWS configuration once per cold start. Honours the standard chain, including
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`, which points local runs at the emulator.
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

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
        assert_eq!(env.parse_or::<u64>("SW_TEST_UNSET_NUM", 7).unwrap(), 7);
    }

    #[tokio::test]
    async fn aws_endpoint_url_is_honoured() {
        std::env::set_var("AWS_ENDPOINT_URL", "http://127.0.0.1:4599");
        std::env::set_var("AWS_REGION", "us-east-1");
        let config = load_aws_config().await;
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4599"));
    }
}
