//! Wiring only: tracing, configuration and SDK clients once per cold start, then the runtime.

use overfit_guard::adapter::SageMakerJobs;
use overfit_guard::policy::Policy;
use overfit_guard::{Config, Guard};
use sagewatch::aws::sns::SnsNotifier;
use sagewatch::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use sagewatch::runtime::{init_tracing, load_aws_config, Env};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let env = Env;
    let config = Config {
        policy: Policy::from_env(&env)?,
        metrics_namespace: env.metrics_namespace()?,
        home_account: env.optional("SAGEWATCH_HOME_ACCOUNT"),
        cross_account_role: env.optional("SAGEWATCH_CROSS_ACCOUNT_ROLE_NAME"),
        stopped_by: env.or("AWS_LAMBDA_FUNCTION_NAME", "sagewatch-overfit-guard"),
    };
    let topic = env.required("SAGEWATCH_ALERTS_TOPIC_ARN")?;
    let aws = load_aws_config().await;
    let guard = Guard {
        jobs: SageMakerJobs::new(aws.clone()),
        notifier: SnsNotifier::new(sagewatch::aws_sdk_sns::Client::new(&aws), topic),
        config,
    };
    let guard = &guard;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        guard.handle(event).await
    }))
    .await
}
