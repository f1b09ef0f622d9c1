//! sagewatch's common core: SageMaker event and alarm models, classification, EMF, redaction,
//! reports, notifications, the claim store's rule, configuration and the ports the functions
//! share. Pure: no AWS SDK and no Lambda runtime here (the adapters are `sagewatch-aws`), so
//! the classifier CLI, its bench and every domain test build in seconds.

pub mod alarm;
pub mod chat;
pub mod claims;
pub mod classify;
pub mod config;
pub mod emf;
pub mod env;
pub mod error;
pub mod events;
pub mod health;
pub mod instance_types;
pub mod notify;
pub mod output;
pub mod redact;
pub mod report;
pub mod serde_util;
pub mod status;
pub mod sweep;
pub mod target;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
