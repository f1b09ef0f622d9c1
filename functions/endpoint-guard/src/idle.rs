//! Which InService endpoints are idle, what they waste, and what to do about it. Pure.
//!
//! Idle: no invocation on any variant for the whole look-back, and older than the look-back
//! (a younger endpoint may simply not have been called yet). Serverless variants cost
//! nothing while idle and are left out of instance-hours; an endpoint with only serverless
//! variants is never idle.

use crate::alarms::Variant;
use crate::ports::{EndpointView, Series};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What the run does with an idle endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Reported only: not tagged `sagewatch:idle-action=delete`.
    Report,
    /// Tagged, but dry-run is on.
    DryRun,
    /// Tagged, but the kill switch is on.
    Disabled,
    /// DeleteEndpoint called.
    Deleted,
    /// It was already gone or being deleted (a duplicate run).
    AlreadyGone,
    /// DeleteEndpoint failed in a way a retry cannot fix.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Safety {
    pub dry_run: bool,
    pub kill_switch: bool,
}

/// The action before DeleteEndpoint is tried.
pub fn planned_action(tagged: bool, safety: Safety) -> Action {
    match (tagged, safety.kill_switch, safety.dry_run) {
        (false, _, _) => Action::Report,
        (true, true, _) => Action::Disabled,
        (true, false, true) => Action::DryRun,
        (true, false, false) => Action::Deleted,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdleEndpoint {
    pub endpoint: String,
    pub config_name: Option<String>,
    pub variants: Vec<Variant>,
    /// `ml.m5.xlarge x 2` per instance-backed variant.
    pub instances: Vec<String>,
    /// Every type, joined with `+` (the EMF InstanceType dimension).
    pub instance_type: String,
    /// No invocation since at least this time (the look-back's start).
    pub idle_since: DateTime<Utc>,
    pub instance_hours: f64,
    /// From the configured price map; `None` when a type has no price.
    pub estimated_cost: Option<f64>,
    pub action: Action,
    /// After a delete: the one command that recreates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recreate: Option<String>,
}

/// The idle endpoint, or `None` when it is busy, too young or serverless only.
pub fn assess(
    view: &EndpointView,
    sums: &HashMap<Series, f64>,
    now: DateTime<Utc>,
    lookback: Duration,
    prices: &BTreeMap<String, f64>,
) -> Option<IdleEndpoint> {
    let (endpoint, config_name, created, variants) = (
        view.name.as_str(),
        view.config_name.as_deref(),
        view.creation_time,
        view.variants.as_slice(),
    );
    let since = now - lookback;
    // Unknown creation time: not provably old enough.
    if created.is_none_or(|c| c > since) {
        return None;
    }
    let billed: Vec<&Variant> = variants.iter().filter(|v| !v.serverless).collect();
    if billed.is_empty() {
        return None;
    }
    let invoked = variants.iter().any(|v| {
        let s = Series {
            endpoint: endpoint.to_owned(),
            variant: v.name.clone(),
        };
        sums.get(&s).copied().unwrap_or(0.0) > 0.0
    });
    if invoked {
        return None;
    }
    let hours = lookback.num_seconds() as f64 / 3600.0;
    let mut instance_hours = 0.0;
    let mut cost = Some(0.0);
    let mut instances = Vec::new();
    let mut types = Vec::new();
    for v in &billed {
        let ty = v.instance_type.clone().unwrap_or_else(|| "unknown".into());
        let h = hours * f64::from(v.instance_count.max(0));
        instance_hours += h;
        cost = match (cost, prices.get(&ty)) {
            (Some(c), Some(p)) => Some(c + h * p),
            _ => None,
        };
        instances.push(format!("{ty} x {}", v.instance_count));
        if !types.contains(&ty) {
            types.push(ty);
        }
    }
    Some(IdleEndpoint {
        endpoint: endpoint.to_owned(),
        config_name: config_name.map(str::to_owned),
        variants: variants.to_vec(),
        instances,
        instance_type: types.join("+"),
        idle_since: since,
        instance_hours,
        estimated_cost: cost,
        action: Action::Report,
        recreate: None,
    })
}

/// Worst first: the highest estimated cost, then the most instance-hours, then by name.
pub fn worst_first(idle: &mut [IdleEndpoint]) {
    idle.sort_by(|a, b| {
        let cost = |e: &IdleEndpoint| e.estimated_cost.unwrap_or(-1.0);
        cost(b)
            .total_cmp(&cost(a))
            .then(b.instance_hours.total_cmp(&a.instance_hours))
            .then(a.endpoint.cmp(&b.endpoint))
    });
}

/// The one command that brings a deleted endpoint back (its config and models stay).
pub fn recreate_command(endpoint: &str, config_name: Option<&str>, region: &str) -> String {
    format!(
        "aws sagemaker create-endpoint --region {region} --endpoint-name {endpoint} --endpoint-config-name {}",
        config_name.unwrap_or("<its endpoint config>")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, ty: Option<&str>, n: i32) -> Variant {
        Variant {
            name: name.into(),
            instance_type: ty.map(str::to_owned),
            instance_count: n,
            serverless: ty.is_none(),
        }
    }

    fn view(created: Option<DateTime<Utc>>, variants: &[Variant]) -> EndpointView {
        EndpointView {
            name: "e".into(),
            arn: None,
            config_name: Some("c".into()),
            status: "InService".into(),
            creation_time: created,
            variants: variants.to_vec(),
        }
    }

    #[test]
    fn idle_only_when_old_enough_unused_and_billed() {
        let now = Utc::now();
        let day = Duration::hours(24);
        let old = Some(now - Duration::hours(30));
        let variants = [
            v("a", Some("ml.g5.xlarge"), 2),
            v("b", Some("ml.m5.large"), 1),
        ];
        let prices: BTreeMap<String, f64> = [
            ("ml.g5.xlarge".to_owned(), 1.5),
            ("ml.m5.large".to_owned(), 0.1),
        ]
        .into();
        let none = HashMap::new();
        let idle = assess(&view(old, &variants), &none, now, day, &prices).unwrap();
        assert_eq!(idle.instance_hours, 72.0);
        assert!((idle.estimated_cost.unwrap() - (48.0 * 1.5 + 24.0 * 0.1)).abs() < 1e-9);
        assert_eq!(idle.instance_type, "ml.g5.xlarge+ml.m5.large");
        let busy: HashMap<Series, f64> = [(
            Series {
                endpoint: "e".into(),
                variant: "b".into(),
            },
            3.0,
        )]
        .into();
        assert!(assess(&view(old, &variants), &busy, now, day, &prices).is_none());
        assert!(assess(
            &view(Some(now - Duration::hours(2)), &variants),
            &none,
            now,
            day,
            &prices
        )
        .is_none());
        assert!(assess(&view(None, &variants), &none, now, day, &prices).is_none());
        assert!(assess(&view(old, &[v("s", None, 0)]), &none, now, day, &prices).is_none());
        let unpriced = assess(
            &view(old, &[v("x", Some("ml.c5.large"), 1)]),
            &none,
            now,
            day,
            &prices,
        )
        .unwrap();
        assert_eq!(unpriced.estimated_cost, None);
    }

    #[test]
    fn the_delete_needs_the_tag_no_kill_switch_and_no_dry_run() {
        let s = |dry_run, kill_switch| Safety {
            dry_run,
            kill_switch,
        };
        assert_eq!(planned_action(false, s(false, false)), Action::Report);
        assert_eq!(planned_action(true, s(true, false)), Action::DryRun);
        assert_eq!(planned_action(true, s(false, true)), Action::Disabled);
        assert_eq!(planned_action(true, s(true, true)), Action::Disabled);
        assert_eq!(planned_action(true, s(false, false)), Action::Deleted);
    }
}
