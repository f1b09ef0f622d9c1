//! Wiring only: tracing, configuration and SDK clients once per cold start, then the runtime.

// The handler's future (three inputs, each a chain of SDK calls) is deeper than rustc's
// default layout query depth.
#![recursion_limit = "256"]

use overfit_guard::adapter::SageMakerJobs;
use overfit_guard::{Config, Guard};
use sagewatch::env::Env;
use sagewatch::output::StdoutSink;
use sagewatch_aws::lambda::{init_tracing, load_aws_config, serve};
use sagewatch_aws::sns::SnsNotifier;

// One event at a time per process: the handler's concurrency is I/O (join_all, buffered
// streams) that one thread serves; the single-thread runtime starts a little faster
// (make bench, hello-world: 2.4 vs 2.7 ms init, 0.137 vs 0.158 ms warm; README).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = Config::from_env(&Env)?;
    let aws = load_aws_config().await;
    let sns = aws_sdk_sns::Client::new(&aws);
    let guard = Guard {
        jobs: SageMakerJobs::new(aws.clone()),
        notifier: SnsNotifier::new(sns.clone(), &config.alerts_topic_arn),
        chat: config
            .chat_topic_arn
            .as_ref()
            .map(|arn| SnsNotifier::new(sns.clone(), arn)),
        sink: StdoutSink,
        config,
    };
    let guard = &guard;
    serve(move |event| async move { guard.handle(event).await }).await
}
