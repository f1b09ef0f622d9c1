//! Wiring only: tracing, configuration and SDK clients once per cold start, then the runtime.

use failure_enricher::adapter::{DynamoLedger, JobAccounts};
use failure_enricher::ports::{AlwaysReport, ReportLedger, StdoutSink};
use failure_enricher::{Config, Enricher};
use sagewatch::aws::sns::SnsNotifier;
use sagewatch::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use sagewatch::runtime::{init_tracing, load_aws_config, Env};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let env = Env;
    let config = Config::from_env(&env)?;
    let topic = env.required("SAGEWATCH_ALERTS_TOPIC_ARN")?;
    let aws = load_aws_config().await;
    let notifier = SnsNotifier::new(sagewatch::aws_sdk_sns::Client::new(&aws), topic);
    let accounts = JobAccounts::new(aws.clone());
    // Without a table every delivery reports (documented); with one, duplicates are dropped.
    match env.optional("SAGEWATCH_DEDUPE_TABLE") {
        Some(table) => {
            let ttl_days = env.positive("SAGEWATCH_DEDUPE_TTL_DAYS", 30)? as i64;
            let client = sagewatch::aws_sdk_dynamodb::Client::new(&aws);
            let ledger = DynamoLedger::new(client, table, ttl_days);
            serve(&accounts, notifier, ledger, config).await
        }
        None => serve(&accounts, notifier, AlwaysReport, config).await,
    }
}

async fn serve(
    accounts: &JobAccounts,
    notifier: SnsNotifier,
    ledger: impl ReportLedger,
    config: Config,
) -> Result<(), Error> {
    let enricher = Enricher {
        jobs: accounts,
        logs: accounts,
        notifier,
        ledger,
        sink: StdoutSink,
        config,
    };
    let enricher = &enricher;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        enricher.handle(event).await
    }))
    .await
}
