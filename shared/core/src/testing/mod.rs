//! Test support written once for every function's tests (feature `testing`): the sample
//! events of `events/`. The fakes of the ports ship beside them ([`crate::claims::MemoryClaims`],
//! [`crate::notify::MemoryNotifier`], [`crate::output::MemorySink`]), and AWS errors are built
//! with [`crate::error::AwsError::new`].

use serde_json::Value;
use std::path::PathBuf;

/// The repository's `events/` folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// `events/<name>` parsed as JSON. Panics with the path on failure (test setup).
pub fn sample(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every `events/*.json` file name, sorted.
pub fn sample_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub mod fuzz;
