//! sagewatch shared core: SageMaker event and alarm models, EMF, runtime helpers, AWS ports.
//!
//! The AWS SDK crates are re-exported from here so that every crate in the workspace uses
//! exactly one copy, built with one feature set.

pub mod alarm;
pub mod aws;
pub mod classify;
pub mod emf;
pub mod error;
pub mod events;
pub mod instance_types;
pub mod notify;
pub mod output;
pub mod redact;
pub mod report;
pub mod runtime;
pub mod serde_util;
pub mod status;
pub mod time;

pub use aws_config;
pub use aws_credential_types;
pub use aws_sdk_cloudwatch;
pub use aws_sdk_cloudwatchlogs;
pub use aws_sdk_dynamodb;
pub use aws_sdk_eventbridge;
pub use aws_sdk_sagemaker;
pub use aws_sdk_sns;
pub use aws_sdk_sqs;
pub use aws_sdk_sts;
pub use aws_smithy_runtime_api;
pub use aws_smithy_types;
pub use lambda_runtime;
pub use tracing;
