//! Fuzzing strategies every parser test shares (proptest): arbitrary JSON made mostly of the
//! samples' own keys, the scalars that broke or could break parsers, and mutations of the real
//! samples in `events/` (by JSON path and by byte). Case count: `PROPTEST_CASES` (default 256).

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Map, Value};
use std::future::Future;
use std::sync::LazyLock;

pub fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        // Failures print the minimal input; no regression files in the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// (file name, parsed JSON) of every sample in `events/`.
pub static SAMPLES: LazyLock<Vec<(String, Value)>> = LazyLock::new(|| {
    let dir = super::events_dir();
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            out.push((name.unwrap_or_default(), v));
        }
    }
    assert!(
        out.len() >= 20,
        "only {} samples found in {}",
        out.len(),
        dir.display()
    );
    out
});

/// Every object key of the samples, and of the JSON strings inside them (SNS `Message`, SQS
/// `body`): arbitrary JSON built from these reaches the typed paths, not just the envelope.
pub static KEYS: LazyLock<Vec<String>> = LazyLock::new(|| {
    fn walk(v: &Value, keys: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                    walk(v, keys);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, keys)),
            Value::String(s) if s.starts_with('{') => {
                if let Ok(inner) = serde_json::from_str::<Value>(s) {
                    walk(&inner, keys);
                }
            }
            _ => {}
        }
    }
    let mut keys = Vec::new();
    for (_, v) in SAMPLES.iter() {
        walk(v, &mut keys);
    }
    keys
});

/// Values that broke or could break parsers: chrono's limits, epoch seconds vs milliseconds,
/// NaN spellings, odd offsets, huge and empty strings, wrong types.
pub fn edge_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(8_210_266_876_799_999_i64)),
        Just(json!(-8_334_601_228_800_000_i64)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(1e11)),
        Just(json!(99_999_999_999.999_f64)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1_718_035_200_000_i64)),
        Just(json!("1718035200000")),
        Just(json!("+262143-12-31T23:59:59Z")),
        Just(json!("9999-12-31T23:59:59.999+0000")),
        Just(json!("2024-06-10T12:21:35.831+2400")),
        Just(json!("2024-02-30T00:00:00Z")),
        Just(json!("NaN")),
        Just(json!("-inf")),
        Just(json!("1e999")),
        Just(json!("")),
        Just(json!("x".repeat(70_000))),
        Just(json!("\u{0}\u{ffff}\u{10ffff}")),
        Just(json!("FAILED")),
        Just(json!("IN_SERVICE")),
        Just(json!("ALARM")),
        Just(json!(true)),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
    ]
}

pub fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => edge_scalar(),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        2 => any::<String>().prop_map(Value::from),
        1 => "[0-9]{1,20}".prop_map(Value::from),
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?".prop_map(Value::from),
    ]
}

pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS.clone()),
        1 => "[A-Za-z:_-]{0,12}",
    ]
}

/// Arbitrary JSON, mostly made of the samples' own keys.
pub fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner.clone()), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            // An object as a JSON string: SNS `Message` and SQS `body` carry JSON that way.
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| {
                Value::String(Value::Object(kv.into_iter().collect::<Map<_, _>>()).to_string())
            }),
        ]
    })
}

/// One edit of a JSON tree: the node at `index` (in pre-order) is replaced, removed, or
/// wrapped; strings holding JSON are mutated inside.
pub fn mutate(value: &mut Value, index: usize, op: u8, replacement: &Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(m) => m.values().map(count).sum(),
            _ => 0,
        }
    }
    fn visit(v: &mut Value, target: &mut usize, op: u8, replacement: &Value) -> bool {
        if *target == 0 {
            match op % 6 {
                0 | 1 => *v = replacement.clone(),
                2 => *v = Value::Null,
                3 => *v = json!([v.clone()]),
                4 => {
                    // Edit the JSON inside a string (SNS Message, SQS body) and put it back.
                    if let Value::String(s) = v {
                        if let Ok(mut inner) = serde_json::from_str::<Value>(s) {
                            let n = count(&inner);
                            mutate(&mut inner, usize::from(op) % n.max(1), op / 6, replacement);
                            *s = inner.to_string();
                        }
                    }
                }
                _ => {
                    if let Value::Object(m) = v {
                        let first = m.keys().next().cloned();
                        if let Some(k) = first {
                            m.remove(&k);
                        }
                    }
                }
            }
            return true;
        }
        *target -= 1;
        match v {
            Value::Array(a) => a.iter_mut().any(|c| visit(c, target, op, replacement)),
            Value::Object(m) => m.values_mut().any(|c| visit(c, target, op, replacement)),
            _ => false,
        }
    }
    let n = count(value);
    let mut target = index % n.max(1);
    visit(value, &mut target, op, replacement);
}

/// A byte-level edit of serialised JSON: flip, insert, delete, truncate, duplicate.
pub fn mutate_bytes(bytes: &mut Vec<u8>, at: usize, op: u8, byte: u8) {
    if bytes.is_empty() {
        bytes.push(byte);
        return;
    }
    let at = at % bytes.len();
    match op % 5 {
        0 => bytes[at] ^= byte | 1,
        1 => bytes.insert(at, byte),
        2 => {
            bytes.remove(at);
        }
        3 => bytes.truncate(at),
        _ => {
            let tail = bytes[at..].to_vec();
            bytes.extend_from_slice(&tail[..tail.len().min(64)]);
        }
    }
}

/// Runs a handler's future on one current-thread runtime shared by the cases of a test binary
/// (a runtime per case would dominate the run).
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("test runtime: {e}"))
    });
    RUNTIME.block_on(future)
}

/// The three properties every handler fuzz target runs, on `$check: fn(Value) -> Result<(),
/// TestCaseError>` (which feeds the payload to the handler and asserts what must hold):
/// arbitrary JSON, samples mutated by JSON path, samples mutated by byte.
#[macro_export]
macro_rules! fuzz_handler {
    ($check:path) => {
        proptest::proptest! {
            #![proptest_config($crate::testing::fuzz::config())]

            #[test]
            fn arbitrary_json(v in $crate::testing::fuzz::json_value()) {
                $check(v)?;
            }

            #[test]
            fn mutated_samples(
                sample in 0usize..1000,
                edits in proptest::collection::vec(
                    (proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>(), $crate::testing::fuzz::json_value()),
                    1..6,
                ),
            ) {
                let samples = &$crate::testing::fuzz::SAMPLES;
                let mut v = samples[sample % samples.len()].1.clone();
                for (index, op, replacement) in &edits {
                    $crate::testing::fuzz::mutate(&mut v, *index, *op, replacement);
                }
                $check(v)?;
            }

            #[test]
            fn byte_mutated_samples(
                sample in 0usize..1000,
                edits in proptest::collection::vec(
                    (proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>(), proptest::prelude::any::<u8>()),
                    1..8,
                ),
            ) {
                let samples = &$crate::testing::fuzz::SAMPLES;
                let mut bytes = serde_json::to_vec(&samples[sample % samples.len()].1).unwrap_or_default();
                for (at, op, byte) in &edits {
                    $crate::testing::fuzz::mutate_bytes(&mut bytes, *at, *op, *byte);
                }
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    $check(v)?;
                }
            }
        }
    };
}
