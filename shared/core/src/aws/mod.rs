//! Adapters: the ports of this crate implemented with the official AWS SDK clients.

pub mod sns;
pub mod target;
