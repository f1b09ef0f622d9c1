//! The thin skeleton every `main.rs` uses: tracing, the AWS configuration, the runtime loop.
//! Not a framework: the handler is any async closure over `LambdaEvent<Value>`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;

/// JSON logs when `AWS_LAMBDA_LOG_FORMAT=JSON`; level from `AWS_LAMBDA_LOG_LEVEL`, then
/// `RUST_LOG`, then INFO. The runtime crate's subscriber does exactly this, so we use it.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The AWS configuration, once per cold start. Honours the standard chain, including
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`, which points local runs at the emulator.
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Runs the Lambda loop with `handler` until the runtime stops.
pub async fn serve<F, Fut, R>(handler: F) -> Result<(), Error>
where
    F: Fn(LambdaEvent<Value>) -> Fut,
    Fut: Future<Output = Result<R, Error>>,
    R: Serialize,
{
    lambda_runtime::run(service_fn(handler)).await
}
