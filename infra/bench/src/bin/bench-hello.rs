//! The `lambda_runtime` hello-world (as in aws-lambda-rust-runtime's examples): the floor
//! every function's cold start is compared with. Multi-thread tokio, like the functions.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
