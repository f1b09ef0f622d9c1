//! sagewatch's AWS adapters: the core's ports implemented with the official AWS SDK for Rust,
//! the one translation of SDK errors into [`sagewatch::error::AwsError`], per-account client
//! caches and the Lambda skeleton. Each SDK crate is behind its own feature, so a function
//! compiles exactly the services it calls.

#[cfg(feature = "dynamodb")]
pub mod claims;
pub mod error;
pub mod lambda;
#[cfg(feature = "sns")]
pub mod sns;
pub mod target;
