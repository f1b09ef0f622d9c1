//! Integration tests: the real AWS SDK clients against the local emulator.
//! All tests share one emulator per process; every test uses its own resource names.

mod cloudwatch;
mod control;
mod dynamodb;
mod eventbridge;
mod logs;
mod messaging;
mod sagemaker;
mod sts;
