//! Status strings, normalised: SageMaker writes `InService` in one payload and `IN_SERVICE`
//! in another (and `FAILED`, `Completed`, …). We keep one canonical PascalCase spelling.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A status in canonical PascalCase (`IN_SERVICE` → `InService`, `Failed` → `Failed`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(String);

impl Status {
    pub fn new(raw: &str) -> Self {
        Status(canonical(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A job (training, processing, transform, tuning) has reached an end state.
    /// `Stopping` is not one: the job may still run (and bill) for minutes.
    pub fn is_terminal_job_status(&self) -> bool {
        matches!(self.0.as_str(), "Completed" | "Failed" | "Stopped")
    }

    pub fn is(&self, canonical_name: &str) -> bool {
        self.0 == canonical_name
    }
}

fn canonical(raw: &str) -> String {
    let raw = raw.trim();
    let shouty = raw.contains(['_', '-', ' ']) || !raw.chars().any(|c| c.is_ascii_lowercase());
    if !shouty {
        // Already CamelCase: only make sure it starts upper-case.
        let mut chars = raw.chars();
        return match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        };
    }
    raw.split(['_', '-', ' '])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let lower = part.to_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Status::new(&raw))
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_meet() {
        for (raw, want) in [
            ("InService", "InService"),
            ("IN_SERVICE", "InService"),
            ("in_service", "InService"),
            ("OUT_OF_SERVICE", "OutOfService"),
            ("FAILED", "Failed"),
            ("Failed", "Failed"),
            ("Completed", "Completed"),
            ("InProgress", "InProgress"),
            ("IN_PROGRESS", "InProgress"),
            ("Executing", "Executing"),
            ("inService", "InService"),
            ("", ""),
        ] {
            assert_eq!(Status::new(raw).as_str(), want, "{raw}");
        }
    }

    #[test]
    fn stopping_is_not_terminal() {
        assert!(!Status::new("Stopping").is_terminal_job_status());
        assert!(!Status::new("STOPPING").is_terminal_job_status());
        assert!(!Status::new("InProgress").is_terminal_job_status());
        for s in ["Completed", "Failed", "Stopped", "STOPPED"] {
            assert!(Status::new(s).is_terminal_job_status(), "{s}");
        }
    }
}
