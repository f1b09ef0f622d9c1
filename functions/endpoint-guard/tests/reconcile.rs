//! The reconciliation against the emulator, in a binary of its own: it lists every endpoint
//! and every owned alarm, so it must not share an emulator with tests that create endpoints.
//! Endpoints are created with SageMaker calls and no state-change event is delivered — the
//! events SageMaker's best-effort delivery lost.

mod support;

use endpoint_guard::{ReconcileRun, Summary};
use sagewatch::testing::sample;
use serde_json::{json, Value};
use support::{fixture, state_change, variant, Fixture, PER_CPU_VARIANT};

async fn reconcile(f: &Fixture) -> ReconcileRun {
    match f.run(sample("endpoint-guard-reconcile.json")).await {
        Summary::Reconcile(run) => run,
        other => panic!("not a reconciliation: {other:?}"),
    }
}

/// The InService event as SageMaker would send it for `endpoint`: with its real tags (none).
fn in_service(endpoint: &str) -> Value {
    let mut e = state_change("endpoint-state-change-in-service-2-variants.json", endpoint);
    e["detail"]["Tags"] = json!({});
    e
}

fn reconciled_lines(f: &Fixture) -> Vec<Value> {
    f.guard
        .sink
        .json()
        .into_iter()
        .filter(|l| l["sagewatch_event"] == "reconciled")
        .collect()
}

#[tokio::test]
async fn lost_events_are_made_up_for_once_and_a_late_event_changes_nothing() {
    // No look-back: only missing alarms are synced, not recent updates (every endpoint
    // here was modified a moment ago; the unit tests cover RecentlyModified).
    let f = fixture(|c| c.reconcile_lookback = chrono::Duration::zero()).await;
    let model = f.model().await;
    let cfg = f
        .config(vec![variant("AllTraffic", &model, "ml.m5.xlarge", 1)])
        .await;
    // InService, its event lost: no alarms.
    let bare = f.endpoint(&cfg, &[]).await;
    // Opted out by tag: the run must not give it alarms either.
    let opted_out = f.endpoint(&cfg, &[("sagewatch:alarms", "off")]).await;
    // Alarmed by its InService event, then deleted with the Deleting event lost.
    let gone = f.endpoint(&cfg, &[]).await;
    f.run(in_service(&gone)).await;
    let gone_prefix = format!("sagewatch-endpoint-{gone}-");
    assert_eq!(f.alarms(&gone_prefix).await.len(), PER_CPU_VARIANT.len());
    f.sagemaker
        .delete_endpoint()
        .endpoint_name(&gone)
        .send()
        .await
        .expect("DeleteEndpoint");
    // Alarmed and still there: never touched.
    let covered = f.endpoint(&cfg, &[]).await;
    f.run(in_service(&covered)).await;
    let covered_prefix = format!("sagewatch-endpoint-{covered}-");
    let covered_before = f.alarms(&covered_prefix).await;
    f.guard.sink.clear();
    f.calls.reset();

    let run = reconcile(&f).await;

    let bare_prefix = format!("sagewatch-endpoint-{bare}-");
    let bare_alarms = f.alarms(&bare_prefix).await;
    let mut want: Vec<String> = PER_CPU_VARIANT
        .iter()
        .map(|s| format!("{bare_prefix}AllTraffic-{s}"))
        .collect();
    want.sort();
    assert_eq!(bare_alarms.keys().cloned().collect::<Vec<_>>(), want);
    assert!(f
        .alarms(&format!("sagewatch-endpoint-{opted_out}-"))
        .await
        .is_empty());
    assert!(f.alarms(&gone_prefix).await.is_empty(), "orphans deleted");
    assert_eq!(f.alarms(&covered_prefix).await, covered_before);
    assert_eq!(run.removed.len(), 1, "{run:?}");
    assert_eq!(run.deferred, 0);

    // Counted once per repair, by [Function, Kind]; the sync line says reconciled.
    let lines = reconciled_lines(&f);
    let missed: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["endpoint"].as_str().unwrap_or_default().to_owned(),
                l["missed"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        missed,
        [
            (bare.clone(), "InService".to_owned()),
            (gone.clone(), "Deleting".to_owned())
        ]
    );
    for l in &lines {
        assert_eq!(l["ReconciledEvents"], json!(1.0));
        assert_eq!(l["Function"], json!("endpoint-guard"));
        assert_eq!(l["Kind"], json!("Endpoint"));
        assert!(
            sagewatch::emf::spec::validate(&l.to_string()).is_ok(),
            "{l}"
        );
    }
    let sync_line = f
        .guard
        .sink
        .json()
        .into_iter()
        .find(|l| l["sagewatch_event"] == "endpoint_alarms" && l["endpoint"] == json!(bare))
        .expect("the bare endpoint's sync line");
    assert_eq!(sync_line["reconciled"], json!(true));

    // Calls: one listing of each kind; per bare endpoint ListTags + the event path's
    // Describe ×2 + DescribeAlarms + its puts; the orphan costs one Describe and one delete.
    let counts = f.calls.counts();
    assert_eq!(counts.get("ListEndpoints"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("ListTags"),
        Some(&2),
        "bare + opted out: {counts:?}"
    );
    assert_eq!(
        counts.get("DescribeAlarms"),
        Some(&2),
        "the listing + the bare endpoint's sync: {counts:?}"
    );
    assert_eq!(
        counts.get("DescribeEndpoint"),
        Some(&2),
        "the bare one's sync and the orphan's check; the opted-out one stops at its tag: {counts:?}"
    );
    assert_eq!(
        counts.get("PutMetricAlarm"),
        Some(&PER_CPU_VARIANT.len()),
        "{counts:?}"
    );
    assert_eq!(counts.get("DeleteAlarms"), Some(&1), "{counts:?}");

    // A second run finds nothing to do.
    f.guard.sink.clear();
    f.calls.reset();
    let again = reconcile(&f).await;
    assert!(reconciled_lines(&f).is_empty(), "{again:?}");
    assert!(again.removed.is_empty());
    let counts = f.calls.counts();
    assert_eq!(counts.get("PutMetricAlarm"), None, "{counts:?}");
    assert_eq!(counts.get("DeleteAlarms"), None, "{counts:?}");

    // The lost event arrives late: it finds the alarms as it would have made them.
    f.calls.reset();
    f.run(in_service(&bare)).await;
    assert_eq!(
        f.calls.counts().get("PutMetricAlarm"),
        None,
        "{:?}",
        f.calls.counts()
    );
    assert_eq!(f.alarms(&bare_prefix).await, bare_alarms);
}
