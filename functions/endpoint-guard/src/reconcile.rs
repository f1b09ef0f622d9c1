//! What the reconciliation run does, decided from two listings: the InService endpoints
//! (ListEndpoints) and the alarms the function owns (DescribeAlarms by prefix).
//!
//! EventBridge delivers SageMaker events best effort: an InService event that never arrives
//! leaves an endpoint without alarms, a lost Deleting event leaves alarms behind. The run
//! repairs both without trusting any event:
//! - an InService endpoint with none of its alarms, or modified within the look-back (an
//!   update whose event was lost may have changed its variants), is synced as if its
//!   InService event had arrived — the sync writes only what is missing or different;
//! - alarms naming an endpoint that is not InService are candidates for removal; the handler
//!   asks DescribeEndpoint first (gone or Failed: removed; Creating, Updating…: left alone).
//!
//! Both lists are bounded per run (`max_endpoints`); what is left over is counted as
//! deferred and picked up by the next run (the listings are complete every time).

use crate::ports::{EndpointSummary, ExistingAlarm};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Why an InService endpoint is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// None of its alarms exist: its InService event was never handled.
    NoAlarms,
    /// Modified within the look-back: an update's event may have been lost.
    RecentlyModified,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ensure {
    pub endpoint: String,
    pub arn: Option<String>,
    pub why: Why,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub ensure: Vec<Ensure>,
    /// Endpoint → its alarms, for endpoints that are not InService.
    pub orphans: BTreeMap<String, Vec<String>>,
    /// Work beyond the run's bound, left for the next run.
    pub deferred: usize,
}

/// The plan for one run. `alarms` are the owned ones (every name starts with the prefix);
/// an alarm belongs to the endpoints its `EndpointName` dimensions name, which is also
/// how the state-change path decides which alarms are an endpoint's.
pub fn plan(
    in_service: &[EndpointSummary],
    alarms: &[ExistingAlarm],
    now: DateTime<Utc>,
    lookback: Duration,
    max_endpoints: usize,
) -> Plan {
    let alarmed: BTreeSet<&str> = alarms
        .iter()
        .flat_map(|a| a.endpoints.iter().map(String::as_str))
        .collect();
    let live: BTreeSet<&str> = in_service.iter().map(|e| e.name.as_str()).collect();
    let since = now - lookback;

    let mut ensure: Vec<Ensure> = in_service
        .iter()
        .filter_map(|e| {
            let why = if !alarmed.contains(e.name.as_str()) {
                Why::NoAlarms
            } else if e.last_modified_time.is_some_and(|t| t >= since) {
                Why::RecentlyModified
            } else {
                return None;
            };
            Some(Ensure {
                endpoint: e.name.clone(),
                arn: e.arn.clone(),
                why,
            })
        })
        .collect();
    // Missing alarms first: they are the endpoints with no protection at all.
    ensure.sort_by_key(|e| (e.why != Why::NoAlarms, e.endpoint.clone()));

    let mut orphans: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in alarms {
        for endpoint in a.endpoints.iter().filter(|e| !live.contains(e.as_str())) {
            let names = orphans.entry(endpoint.clone()).or_default();
            if !names.contains(&a.name) {
                names.push(a.name.clone());
            }
        }
    }

    let wanted = ensure.len() + orphans.len();
    ensure.truncate(max_endpoints);
    let room = max_endpoints - ensure.len();
    let orphans: BTreeMap<String, Vec<String>> = orphans.into_iter().take(room).collect();
    Plan {
        deferred: wanted - ensure.len() - orphans.len(),
        ensure,
        orphans,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(name: &str, modified_hours_ago: i64, now: DateTime<Utc>) -> EndpointSummary {
        EndpointSummary {
            name: name.into(),
            arn: Some(format!("arn:aws:sagemaker:us-east-1:1:endpoint/{name}")),
            creation_time: Some(now - Duration::days(10)),
            last_modified_time: Some(now - Duration::hours(modified_hours_ago)),
        }
    }

    fn alarm(name: &str, endpoint: &str) -> ExistingAlarm {
        ExistingAlarm {
            name: name.into(),
            endpoints: vec![endpoint.into()],
            definition: None,
            actions: (Vec::new(), Vec::new()),
        }
    }

    #[test]
    fn missing_alarms_recent_updates_and_orphans_are_found() {
        let now = Utc::now();
        let listed = [
            endpoint("covered", 48, now),
            endpoint("bare", 48, now),
            endpoint("updated", 1, now),
        ];
        let alarms = [
            alarm("sagewatch-endpoint-covered-a-cpu", "covered"),
            alarm("sagewatch-endpoint-updated-a-cpu", "updated"),
            alarm("sagewatch-endpoint-gone-a-cpu", "gone"),
            alarm("sagewatch-endpoint-gone-a-4xx", "gone"),
        ];
        let p = plan(&listed, &alarms, now, Duration::hours(3), 50);
        let ensured: Vec<(&str, Why)> = p
            .ensure
            .iter()
            .map(|e| (e.endpoint.as_str(), e.why))
            .collect();
        assert_eq!(
            ensured,
            [("bare", Why::NoAlarms), ("updated", Why::RecentlyModified)]
        );
        assert_eq!(
            p.orphans.get("gone").map(Vec::len),
            Some(2),
            "{:?}",
            p.orphans
        );
        assert_eq!(p.orphans.len(), 1);
        assert_eq!(p.deferred, 0);
    }

    #[test]
    fn a_prefix_sharing_endpoint_does_not_cover_another() {
        // `e-2`'s alarms start with `…-e-` too; only the EndpointName dimension counts.
        let now = Utc::now();
        let p = plan(
            &[endpoint("e", 48, now), endpoint("e-2", 48, now)],
            &[alarm("sagewatch-endpoint-e-2-a-cpu", "e-2")],
            now,
            Duration::hours(3),
            50,
        );
        assert_eq!(p.ensure.len(), 1);
        assert_eq!(p.ensure[0].endpoint, "e");
        assert!(p.orphans.is_empty());
    }

    #[test]
    fn the_bound_defers_the_rest_missing_alarms_first() {
        let now = Utc::now();
        let listed: Vec<EndpointSummary> = (0..5)
            .map(|i| endpoint(&format!("bare-{i}"), 48, now))
            .chain([endpoint("updated", 1, now)])
            .collect();
        let alarms = [
            alarm("sagewatch-endpoint-updated-a-cpu", "updated"),
            alarm("sagewatch-endpoint-gone-a-cpu", "gone"),
        ];
        let p = plan(&listed, &alarms, now, Duration::hours(3), 3);
        assert_eq!(p.ensure.len(), 3);
        assert!(p.ensure.iter().all(|e| e.why == Why::NoAlarms));
        assert!(p.orphans.is_empty());
        assert_eq!(p.deferred, 4, "2 bare, 1 updated, 1 orphaned endpoint");
    }

    #[test]
    fn nothing_to_do_is_an_empty_plan() {
        let now = Utc::now();
        let p = plan(
            &[endpoint("covered", 48, now)],
            &[alarm("sagewatch-endpoint-covered-a-cpu", "covered")],
            now,
            Duration::hours(3),
            50,
        );
        assert_eq!(p, Plan::default());
    }
}
