//! Per-endpoint settings from the endpoint's tags (documented in the README):
//! `sagewatch:alarms=off` (no alarms managed for it), `sagewatch:latency-<stat>-ms=<n>`
//! (model-latency alarm on `<stat>`, e.g. p90, above n milliseconds), and
//! `sagewatch:idle-action=delete` (opt-in deletion when idle). Pure.

use serde::Serialize;
use std::collections::BTreeMap;

pub const ALARMS_TAG: &str = "sagewatch:alarms";
pub const IDLE_ACTION_TAG: &str = "sagewatch:idle-action";
const LATENCY_PREFIX: &str = "sagewatch:latency-";
const LATENCY_SUFFIX: &str = "-ms";
/// The statistics CloudWatch accepts for latency here (the template's LatencyStatistic).
const LATENCY_STATS: &[&str] = &["Average", "Maximum", "p50", "p90", "p95", "p99"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overrides {
    pub alarms_off: bool,
    pub latency_statistic: String,
    pub latency_threshold_us: Option<f64>,
    pub idle_delete: bool,
    /// Tags that were ignored, with why (reported, so a typo is visible).
    pub ignored: Vec<String>,
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            alarms_off: false,
            latency_statistic: "p90".into(),
            latency_threshold_us: None,
            idle_delete: false,
            ignored: Vec::new(),
        }
    }
}

impl Overrides {
    /// From the endpoint's tags, on top of the configured latency statistic.
    pub fn from_tags(tags: &BTreeMap<String, String>, default_latency_statistic: &str) -> Self {
        let mut o = Overrides {
            latency_statistic: default_latency_statistic.to_owned(),
            ..Overrides::default()
        };
        for (key, value) in tags {
            let v = value.trim();
            if key == ALARMS_TAG {
                o.alarms_off = v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("false");
            } else if key == IDLE_ACTION_TAG {
                o.idle_delete = v.eq_ignore_ascii_case("delete");
            } else if let Some(stat) = key
                .strip_prefix(LATENCY_PREFIX)
                .and_then(|k| k.strip_suffix(LATENCY_SUFFIX))
            {
                let stat = LATENCY_STATS.iter().find(|s| s.eq_ignore_ascii_case(stat));
                match (stat, v.parse::<f64>()) {
                    (Some(stat), Ok(ms)) if ms.is_finite() && ms > 0.0 => {
                        o.latency_statistic = (*stat).to_owned();
                        // ModelLatency is in microseconds.
                        o.latency_threshold_us = Some(ms * 1000.0);
                    }
                    _ => o.ignored.push(format!(
                        "{key}={v}: expected a statistic of {LATENCY_STATS:?} and milliseconds > 0"
                    )),
                }
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn tags_override_and_bad_ones_are_reported() {
        let o = Overrides::from_tags(&tags(&[("sagewatch:latency-p90-ms", "800")]), "p90");
        assert_eq!(o.latency_threshold_us, Some(800_000.0));
        assert_eq!(o.latency_statistic, "p90");
        assert!(!o.alarms_off && !o.idle_delete);
        let o = Overrides::from_tags(
            &tags(&[
                ("sagewatch:alarms", "OFF"),
                ("sagewatch:idle-action", "delete"),
                ("sagewatch:latency-p42-ms", "800"),
                ("sagewatch:latency-p99-ms", "-3"),
            ]),
            "p95",
        );
        assert!(o.alarms_off && o.idle_delete);
        assert_eq!(o.latency_statistic, "p95");
        assert_eq!(o.latency_threshold_us, None);
        assert_eq!(o.ignored.len(), 2, "{:?}", o.ignored);
        assert!(
            !Overrides::from_tags(&tags(&[("sagewatch:idle-action", "stop")]), "p90").idle_delete
        );
    }
}
