//! Failure signatures: the decisive line with its variable parts masked, plus a stable hash,
//! so the same failure groups across jobs (like the pattern view of CloudWatch Logs).
//!
//! The hash is FNV-1a 64: ten lines, stable across versions and platforms, and collisions
//! only merge two groups in a report (no security role), so a cryptographic hash is not needed.

use regex::Regex;
use serde::Serialize;
use std::sync::LazyLock;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signature {
    pub pattern: String,
    pub hash: String,
}

pub const MAX_PATTERN_CHARS: usize = 300;

/// (mask, pattern), applied in order: URIs before paths before ids before numbers.
const MASKS: &[(&str, &str)] = &[
    ("<uri>", r#"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'()<>,]+"#),
    ("<arn>", r"\barn:aws[\w-]*:[^\s\x22',]+"),
    ("<path>", r"(?:[A-Za-z]:)?(?:/[\w.@+~-]+){2,}/?"),
    (
        "<uuid>",
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
    ),
    (
        "<hex>",
        r"\b(?:0x[0-9a-fA-F]+|[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*|[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*)\b",
    ),
    ("<ip>", r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"),
    ("<n>", r"\d+(?:[.,]\d+)*"),
    ("<q>", r"'[^']{1,200}'"),
];

static COMPILED: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    MASKS
        .iter()
        .filter_map(|(m, p)| Regex::new(p).ok().map(|re| (*m, re)))
        .collect()
});

/// Masks variable tokens in a line. Hex runs need at least one digit and one letter, so words
/// like `added` or `bad` survive.
pub fn mask(line: &str) -> String {
    let mut out = super::truncate(line.trim(), 2 * MAX_PATTERN_CHARS);
    for (m, re) in COMPILED.iter() {
        out = re.replace_all(&out, *m).into_owned();
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    super::truncate(&collapsed, MAX_PATTERN_CHARS)
}

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub fn signature(line: &str) -> Signature {
    let pattern = mask(line);
    Signature {
        hash: format!("{:016x}", fnv1a64(pattern.as_bytes())),
        pattern,
    }
}
