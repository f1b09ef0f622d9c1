//! Wiring only: tracing, configuration and SDK clients once per cold start, then the runtime.

use event_augmenter::adapter::{CloudWatchMetrics, EventBridgeBus, SageMakerJobs, TableClaims};
use event_augmenter::{Augmenter, Config};
use sagewatch::env::Env;
use sagewatch::output::StdoutSink;
use sagewatch_aws::lambda::{init_tracing, load_aws_config, serve};

// One event at a time per process: the handler's concurrency is I/O (join_all, buffered
// streams) that one thread serves; the single-thread runtime starts a little faster
// (make bench, hello-world: 2.4 vs 2.7 ms init, 0.137 vs 0.158 ms warm; README).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = Config::from_env(&Env)?;
    let aws = load_aws_config().await;
    let augmenter = Augmenter {
        dedupe: TableClaims::new(aws_sdk_dynamodb::Client::new(&aws), &config.dedupe_table),
        metrics: CloudWatchMetrics::new(aws_sdk_cloudwatch::Client::new(&aws)),
        sink: StdoutSink,
        jobs: SageMakerJobs::new(aws.clone()),
        bus: EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(&aws),
            config.sweep_event_bus.clone(),
        ),
        config,
    };
    let augmenter = &augmenter;
    serve(move |event| async move { augmenter.handle(event).await }).await
}
