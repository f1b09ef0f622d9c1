//! What the canary needs from the outside world besides the shared ports (notifications,
//! the sink): InvokeEndpoint, as one small trait. SDK adapter in [`crate::adapter`], an
//! in-memory fake in the handler tests.

use sagewatch::error::AwsError;
use std::future::Future;

/// One InvokeEndpoint request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub endpoint: String,
    pub variant: Option<String>,
    pub inference_component: Option<String>,
    pub content_type: String,
    pub accept: Option<String>,
    pub body: Vec<u8>,
}

/// A successful answer (HTTP 2xx).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    /// `x-Amzn-Invoked-Production-Variant`: the variant that answered.
    pub invoked_variant: Option<String>,
}

/// The container's own error, passed through by SageMaker (ModelError, HTTP 424). Its
/// texts are the container's: the handler redacts and bounds them before they go anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelFailure {
    pub original_status: Option<i32>,
    pub original_message: Option<String>,
    pub log_stream_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    Model(ModelFailure),
    Aws(AwsError),
}

pub trait Endpoints: Send + Sync {
    fn invoke(
        &self,
        invocation: &Invocation,
    ) -> impl Future<Output = Result<Answer, InvokeError>> + Send;
}

impl<T: Endpoints> Endpoints for &T {
    fn invoke(
        &self,
        invocation: &Invocation,
    ) -> impl Future<Output = Result<Answer, InvokeError>> + Send {
        (**self).invoke(invocation)
    }
}
