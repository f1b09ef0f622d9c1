//! Wiring only: tracing, configuration and SDK clients once per cold start, then the runtime.

use failure_enricher::adapter::JobAccounts;
use failure_enricher::{Config, Enricher};
use sagewatch::claims::{ClaimStore, NoClaims};
use sagewatch::env::Env;
use sagewatch::output::StdoutSink;
use sagewatch_aws::claims::DynamoClaims;
use sagewatch_aws::lambda::{init_tracing, load_aws_config, serve};
use sagewatch_aws::sns::SnsNotifier;

// One event at a time per process: the handler's concurrency is I/O (buffered
// streams) that one thread serves; the single-thread runtime starts a little faster
// (make bench, hello-world: 2.4 vs 2.7 ms init, 0.137 vs 0.158 ms warm; README).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = Config::from_env(&Env)?;
    let aws = load_aws_config().await;
    let accounts = JobAccounts::new(aws.clone());
    let sns = aws_sdk_sns::Client::new(&aws);
    let notifier = SnsNotifier::new(sns.clone(), &config.alerts_topic_arn);
    let chat = config
        .chat_topic_arn
        .as_ref()
        .map(|arn| SnsNotifier::new(sns.clone(), arn));
    // Without a table every delivery reports (documented); with one, each failure once.
    match config.claims.clone() {
        Some(table) => {
            let claims = DynamoClaims::new(aws_sdk_dynamodb::Client::new(&aws), table.name);
            run(&accounts, notifier, chat, claims, config).await
        }
        None => run(&accounts, notifier, chat, NoClaims, config).await,
    }
}

async fn run(
    accounts: &JobAccounts,
    notifier: SnsNotifier,
    chat: Option<SnsNotifier>,
    claims: impl ClaimStore,
    config: Config,
) -> Result<(), lambda_runtime::Error> {
    let enricher = Enricher {
        jobs: accounts,
        logs: accounts,
        notifier,
        chat,
        claims,
        sink: StdoutSink,
        config,
    };
    let enricher = &enricher;
    serve(move |event| async move { enricher.handle(event).await }).await
}
