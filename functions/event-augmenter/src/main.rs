//! Wiring only: tracing, configuration and SDK clients once per cold start, then the runtime.

use event_augmenter::adapter::{CloudWatchMetrics, DynamoDedupe};
use event_augmenter::ports::StdoutSink;
use event_augmenter::{Augmenter, Config};
use sagewatch::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use sagewatch::runtime::{init_tracing, load_aws_config, Env};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let env = Env;
    let config = Config::from_env(&env)?;
    let table = env.required("SAGEWATCH_DEDUPE_TABLE")?;
    let aws = load_aws_config().await;
    let augmenter = Augmenter {
        dedupe: DynamoDedupe::new(sagewatch::aws_sdk_dynamodb::Client::new(&aws), table),
        metrics: CloudWatchMetrics::new(sagewatch::aws_sdk_cloudwatch::Client::new(&aws)),
        sink: StdoutSink,
        config,
    };
    let augmenter = &augmenter;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        augmenter.handle(event).await
    }))
    .await
}
