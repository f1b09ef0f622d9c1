//! Small serde helpers for the shapes AWS payloads really use.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// Tags arrive as a map in EventBridge events (`{"team": "nlp"}`) and as a list in API
/// responses (`[{"Key": "team", "Value": "nlp"}]`). Both become a sorted map; a tag with a
/// non-string value keeps its JSON text.
pub fn tags<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(tags_from_value(value.as_ref()))
}

pub fn tags_from_value(value: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match value {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                out.insert(k.clone(), scalar_text(v));
            }
        }
        Some(Value::Array(items)) => {
            for item in items {
                let key = item.get("Key").or_else(|| item.get("key"));
                let val = item.get("Value").or_else(|| item.get("value"));
                if let Some(Value::String(k)) = key {
                    out.insert(k.clone(), val.map(scalar_text).unwrap_or_default());
                }
            }
        }
        _ => {}
    }
    out
}

/// A string map whose values may be numbers or booleans (hyperparameters, environment).
pub fn string_map<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<Value>::deserialize(deserializer)?;
    let mut out = BTreeMap::new();
    if let Some(Value::Object(map)) = value {
        for (k, v) in map {
            out.insert(k, scalar_text(&v));
        }
    }
    Ok(out)
}

/// Numbers sometimes arrive as strings (`"2"`), sometimes as numbers.
pub fn lenient_u64<'de, D>(deserializer: D) -> Result<Option<u64>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(Value::Number(n)) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Like [`lenient_u64`] for floating-point values (objective metrics, thresholds).
pub fn lenient_f64<'de, D>(deserializer: D) -> Result<Option<f64>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    })
}

/// A string field that is sometimes a number or null in the wild.
pub fn lenient_string<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(match value {
        None | Some(Value::Null) => None,
        Some(v) => Some(scalar_text(&v)),
    })
}

pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_map_and_list_agree() {
        let a = tags_from_value(Some(&json!({"team": "nlp", "cost": 5})));
        let b = tags_from_value(Some(&json!([
            {"Key": "team", "Value": "nlp"},
            {"Key": "cost", "Value": 5}
        ])));
        assert_eq!(a, b);
        assert_eq!(a.get("cost").map(String::as_str), Some("5"));
        assert!(tags_from_value(Some(&json!("junk"))).is_empty());
        assert!(tags_from_value(None).is_empty());
    }
}
