//! The port with the AWS SDK: sagemaker-runtime InvokeEndpoint in the function's account.
//! The client has retries off: a canary reports what one caller would have seen, and the
//! check's timeout (applied by the handler) bounds the whole call.

use crate::ports::{Answer, Endpoints, Invocation, InvokeError, ModelFailure};
use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_sdk_sagemakerruntime as smr;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_smithy_types::Blob;
use sagewatch_aws::error::from_sdk;

pub struct SageMakerEndpoints {
    client: smr::Client,
}

impl SageMakerEndpoints {
    pub fn new(config: &SdkConfig) -> Self {
        let conf = smr::config::Builder::from(config)
            .retry_config(RetryConfig::disabled())
            .build();
        Self::with_client(smr::Client::from_conf(conf))
    }

    /// A ready client (tests add a call counter to it).
    pub fn with_client(client: smr::Client) -> Self {
        SageMakerEndpoints { client }
    }
}

impl Endpoints for SageMakerEndpoints {
    async fn invoke(&self, inv: &Invocation) -> Result<Answer, InvokeError> {
        let out = self
            .client
            .invoke_endpoint()
            .endpoint_name(&inv.endpoint)
            .content_type(&inv.content_type)
            .set_accept(inv.accept.clone())
            .set_target_variant(inv.variant.clone())
            .set_inference_component_name(inv.inference_component.clone())
            .body(Blob::new(inv.body.clone()))
            .send()
            .await;
        match out {
            Ok(o) => Ok(Answer {
                body: o.body().map(|b| b.as_ref().to_vec()).unwrap_or_default(),
                content_type: o.content_type().map(str::to_owned),
                invoked_variant: o.invoked_production_variant().map(str::to_owned),
            }),
            Err(e) => {
                // The typed variant, not its text: the container's status and message.
                if let Some(InvokeEndpointError::ModelError(m)) = e.as_service_error() {
                    return Err(InvokeError::Model(ModelFailure {
                        original_status: m.original_status_code(),
                        original_message: m.original_message().map(str::to_owned),
                        log_stream_arn: m.log_stream_arn().map(str::to_owned),
                    }));
                }
                Err(InvokeError::Aws(from_sdk("InvokeEndpoint", &e)))
            }
        }
    }
}
