//! endpoint-guard: every SageMaker endpoint gets its alarms when it is InService, loses them
//! when it is deleted, and idle endpoints are reported (and, opted in, deleted).
//!
//! Two inputs:
//! - "SageMaker Endpoint State Change" (EventBridge): InService → DescribeEndpoint (+
//!   DescribeEndpointConfig) → for each variant PutMetricAlarm of its alarm set (same names
//!   and definitions on every delivery) and DeleteAlarms of the endpoint's alarms no longer
//!   wanted (a variant removed by an update); Deleting or Failed → DeleteAlarms of all the
//!   endpoint's alarms. Only alarms named `<prefix><endpoint>-…` whose EndpointName dimension
//!   is the endpoint are ever deleted.
//! - the idle check (schedule input `{"action": "idle-check"}`, or a "Scheduled Event"):
//!   ListEndpoints(InService) → Describe* → ONE GetMetricData (≤ 500 series) → idle report
//!   lines + EMF → one SNS digest; DeleteEndpoint only for tagged endpoints, dry-run by default.
//! - the reconciliation (schedule input `{"action": "reconcile"}`): ListEndpoints(InService) +
//!   DescribeAlarms(prefix) → the endpoints whose state-change event was lost are synced as
//!   the event would have done, alarms of endpoints that are gone are deleted (see
//!   [`reconcile`]); each repair is a `ReconciledEvents` count.

pub mod adapter;
pub mod alarms;
pub mod idle;
pub mod overrides;
pub mod ports;
pub mod reconcile;

use alarms::{alarms_for, endpoint_prefix, Alarm, Skipped};
use chrono::{DateTime, Duration, Utc};
use idle::{assess, planned_action, recreate_command, worst_first, Action, IdleEndpoint, Safety};
use lambda_runtime::{Error, LambdaEvent};
use overrides::Overrides;
use ports::{Alarms, DeleteOutcome, Endpoints, Metrics, Series};
use sagewatch::chat::{self, ChatMessage};
use sagewatch::config::Common;
use sagewatch::emf::{MetricRecord, Unit};
use sagewatch::env::Env;
use sagewatch::error::{AwsError, ConfigError, RetryableFailure};
use sagewatch::events::{Detail, SageMakerEvent};
use sagewatch::instance_types;
use sagewatch::notify::{publish_chat, Notification, Notifier};
use sagewatch::output::Sink;
use sagewatch::status::Status;
use sagewatch::sweep::{self, Bound};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use tracing::{info, warn};

pub const FUNCTION: &str = "endpoint-guard";
/// The schedule's input (infra/template.yaml), also `events/endpoint-guard-idle-check.json`.
pub const IDLE_CHECK: &str = "idle-check";
/// The reconciliation schedule's input (infra/template.yaml), also
/// `events/endpoint-guard-reconcile.json`.
pub const RECONCILE: &str = "reconcile";
/// GetMetricData takes at most 500 queries per call.
pub const MAX_SERIES_PER_CALL: usize = 500;

pub struct Config {
    pub common: Common,
    /// Every alarm the function owns starts with it (IAM limits it to this prefix).
    pub alarm_prefix: String,
    pub alerts_topic_arn: String,
    pub latency_statistic: String,
    /// The template's EnableInvocationsLowAlarm (off: the idle check covers unused endpoints).
    pub invocations_low_alarm: bool,
    pub lookback: Duration,
    pub dry_run: bool,
    pub kill_switch: bool,
    /// USD per instance-hour by instance type, for the estimated cost.
    pub prices: BTreeMap<String, f64>,
    pub region: String,
    /// SAGEWATCH_CHAT_TOPIC_ARN: where the chat rendering of the digest goes (optional).
    pub chat_topic_arn: Option<String>,
    /// Endpoints modified within it are re-synced by the reconciliation.
    pub reconcile_lookback: Duration,
    /// Endpoints synced or cleaned per reconciliation run; the rest wait for the next.
    pub reconcile_max_endpoints: usize,
}

impl Config {
    /// Reads, besides the shared settings: SAGEWATCH_ALERTS_TOPIC_ARN (required),
    /// SAGEWATCH_ALARM_PREFIX (`sagewatch-endpoint-`), SAGEWATCH_LATENCY_STATISTIC (p90),
    /// SAGEWATCH_INVOCATIONS_LOW_ALARM (false), SAGEWATCH_IDLE_LOOKBACK_HOURS (24),
    /// SAGEWATCH_IDLE_DRY_RUN (true), SAGEWATCH_KILL_SWITCH (false),
    /// SAGEWATCH_INSTANCE_PRICES (JSON object type → USD/hour, optional), AWS_REGION,
    /// SAGEWATCH_RECONCILE_LOOKBACK_HOURS (3), SAGEWATCH_RECONCILE_MAX_ENDPOINTS (50).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let invalid = |name: &str, value: String, reason: &str| ConfigError::Invalid {
            name: name.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        let alarm_prefix = env.or("SAGEWATCH_ALARM_PREFIX", "sagewatch-endpoint-");
        if !alarm_prefix.starts_with("sagewatch-") {
            // The alerts topic admits alarms named sagewatch-* only; IAM is scoped to it too.
            return Err(invalid(
                "SAGEWATCH_ALARM_PREFIX",
                alarm_prefix,
                "must start with sagewatch-",
            ));
        }
        let latency_statistic = env.or("SAGEWATCH_LATENCY_STATISTIC", "p90");
        if !["Average", "Maximum", "p50", "p90", "p95", "p99"].contains(&latency_statistic.as_str())
        {
            return Err(invalid(
                "SAGEWATCH_LATENCY_STATISTIC",
                latency_statistic,
                "one of Average, Maximum, p50, p90, p95, p99",
            ));
        }
        let hours = env.positive("SAGEWATCH_IDLE_LOOKBACK_HOURS", 24)?;
        let hours = i64::try_from(hours)
            .ok()
            .filter(|h| *h <= 24 * 63)
            .ok_or_else(|| {
                invalid(
                    "SAGEWATCH_IDLE_LOOKBACK_HOURS",
                    hours.to_string(),
                    "at most 1512 (63 days of 1-hour data)",
                )
            })?;
        let prices = match env.optional("SAGEWATCH_INSTANCE_PRICES") {
            None => BTreeMap::new(),
            Some(raw) => serde_json::from_str::<BTreeMap<String, f64>>(&raw)
                .map_err(|e| invalid("SAGEWATCH_INSTANCE_PRICES", raw.clone(), &e.to_string()))?,
        };
        Ok(Config {
            common: Common::from_env(env, FUNCTION)?,
            alarm_prefix,
            alerts_topic_arn: env.required("SAGEWATCH_ALERTS_TOPIC_ARN")?,
            latency_statistic,
            invocations_low_alarm: env.flag("SAGEWATCH_INVOCATIONS_LOW_ALARM", false)?,
            lookback: Duration::hours(hours),
            dry_run: env.flag("SAGEWATCH_IDLE_DRY_RUN", true)?,
            kill_switch: env.flag("SAGEWATCH_KILL_SWITCH", false)?,
            prices,
            region: env.or("AWS_REGION", "us-east-1"),
            chat_topic_arn: env
                .optional("SAGEWATCH_CHAT_TOPIC_ARN")
                .filter(|a| !a.trim().is_empty()),
            reconcile_lookback: Duration::hours(
                i64::try_from(env.positive("SAGEWATCH_RECONCILE_LOOKBACK_HOURS", 3)?)
                    .ok()
                    .filter(|h| *h <= 24 * 14)
                    .ok_or_else(|| {
                        invalid(
                            "SAGEWATCH_RECONCILE_LOOKBACK_HOURS",
                            env.or("SAGEWATCH_RECONCILE_LOOKBACK_HOURS", ""),
                            "at most 336 (14 days)",
                        )
                    })?,
            ),
            reconcile_max_endpoints: usize::try_from(
                env.positive("SAGEWATCH_RECONCILE_MAX_ENDPOINTS", 50)?,
            )
            .unwrap_or(usize::MAX),
        })
    }

    /// Defaults for tests and local runs.
    pub fn new(alerts_topic_arn: &str) -> Self {
        Config {
            common: Common::new(FUNCTION),
            alarm_prefix: "sagewatch-endpoint-".into(),
            alerts_topic_arn: alerts_topic_arn.into(),
            latency_statistic: "p90".into(),
            invocations_low_alarm: false,
            lookback: Duration::hours(24),
            dry_run: true,
            kill_switch: false,
            prices: BTreeMap::new(),
            region: "us-east-1".into(),
            chat_topic_arn: None,
            reconcile_lookback: Duration::hours(3),
            reconcile_max_endpoints: 50,
        }
    }
}

pub struct Guard<E, A, M, N, S> {
    pub endpoints: E,
    pub alarms: A,
    pub metrics: M,
    pub notifier: N,
    /// The optional chat topic (SAGEWATCH_CHAT_TOPIC_ARN): the idle digest as an AWS chat
    /// custom notification.
    pub chat: Option<N>,
    pub sink: S,
    pub config: Config,
}

/// What one state-change event did to the endpoint's alarms.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlarmSync {
    pub endpoint: String,
    pub status: String,
    /// `ensured`, `removed`, `opted_out`, `ignored`, `other_account`, `invalid`.
    pub decision: String,
    pub put: Vec<String>,
    /// Alarms already as wanted (not written again).
    pub unchanged: usize,
    pub deleted: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub ignored_tags: Vec<String>,
    /// Done by the reconciliation, not by an event.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reconciled: bool,
}

impl AlarmSync {
    fn changed(&self) -> bool {
        !self.put.is_empty() || !self.deleted.is_empty()
    }
}

/// One reconciliation run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileRun {
    /// InService endpoints listed.
    pub listed: usize,
    /// Owned alarms listed.
    pub alarms: usize,
    /// Endpoints synced as their lost event would have (only changed ones count as reconciled).
    pub synced: Vec<AlarmSync>,
    /// Endpoint → alarms deleted because the endpoint is gone (or Failed).
    pub removed: BTreeMap<String, Vec<String>>,
    /// Endpoints not InService whose alarms were left (Creating, Updating, opted out…).
    pub kept: Vec<String>,
    /// Left for the next run (the per-run bound).
    pub deferred: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IdleRun {
    pub checked: usize,
    pub idle: Vec<IdleEndpoint>,
    pub metric_calls: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Summary {
    Alarms(AlarmSync),
    Idle(IdleRun),
    Reconcile(ReconcileRun),
}

fn retry(e: AwsError) -> Error {
    Box::new(RetryableFailure::from(e))
}

impl<E: Endpoints, A: Alarms, M: Metrics, N: Notifier, S: Sink> Guard<E, A, M, N, S> {
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Summary, Error> {
        let home = self
            .config
            .common
            .home_account(&event.context.invoked_function_arn);
        let payload = event.payload;
        let is_idle_check = payload.get("action").and_then(Value::as_str) == Some(IDLE_CHECK)
            || payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
        if is_idle_check {
            return self.idle_check().await.map(Summary::Idle);
        }
        if payload.get("action").and_then(Value::as_str) == Some(RECONCILE) {
            return self.reconcile().await.map(Summary::Reconcile);
        }
        let parsed = SageMakerEvent::from_value(payload);
        let (account, endpoint) = match parsed {
            Ok(SageMakerEvent {
                detail: Detail::Endpoint(e),
                account,
                ..
            }) => (account, e),
            Ok(other) => {
                return Ok(self.invalid(
                    "unexpected_event",
                    &format!(
                        "detail-type {:?} is not an endpoint state change",
                        other.detail_type
                    ),
                ))
            }
            Err(e) => return Ok(self.invalid("unrecognised_payload", &e.to_string())),
        };
        let Some(name) = endpoint
            .endpoint_name
            .clone()
            .filter(|n| !n.trim().is_empty())
        else {
            return Ok(self.invalid("malformed_event", "the event has no EndpointName"));
        };
        // Alarms live in the function's own account: an endpoint of another account (a
        // monitoring bus) must not touch a same-named endpoint's alarms here.
        if let (Some(from), Some(home)) = (account.as_deref(), home.as_deref()) {
            if from != home {
                let sync = AlarmSync {
                    endpoint: name,
                    status: format!("account {from} is not this function's account {home}"),
                    decision: "other_account".into(),
                    ..AlarmSync::default()
                };
                return Ok(Summary::Alarms(self.report(sync)));
            }
        }
        let overrides = Overrides::from_tags(&endpoint.tags, &self.config.latency_statistic);
        let status = endpoint
            .endpoint_status
            .clone()
            .unwrap_or_else(|| Status::new("Unknown"));
        self.sync_alarms(&name, &status, &overrides, false)
            .await
            .map(Summary::Alarms)
    }

    fn invalid(&self, reason: &str, detail: &str) -> Summary {
        let detail =
            self.config
                .common
                .health()
                .invalid(&self.sink, Utc::now(), reason, detail, &[]);
        Summary::Alarms(AlarmSync {
            decision: "invalid".into(),
            status: detail,
            ..AlarmSync::default()
        })
    }

    /// The event's status says what to do; for InService the endpoint's current state
    /// (DescribeEndpoint) decides, so a late InService after a Deleting changes nothing.
    async fn sync_alarms(
        &self,
        name: &str,
        status: &Status,
        overrides: &Overrides,
        reconciled: bool,
    ) -> Result<AlarmSync, Error> {
        let mut sync = AlarmSync {
            endpoint: name.to_owned(),
            status: status.as_str().to_owned(),
            ignored_tags: overrides.ignored.clone(),
            reconciled,
            ..AlarmSync::default()
        };
        if overrides.alarms_off {
            // Opted out: never create, never delete (the alarms may be the template's).
            sync.decision = "opted_out".into();
            return Ok(self.report(sync));
        }
        let wanted: Vec<Alarm> = match status.as_str() {
            "InService" => match self.endpoints.describe(name).await.map_err(retry)? {
                Some(view) if view.status == "InService" => {
                    let mut all = Vec::new();
                    for v in &view.variants {
                        let spec = v.instance_type.as_deref().and_then(instance_types::lookup);
                        let (a, s) = alarms_for(
                            &self.config.alarm_prefix,
                            name,
                            v,
                            spec,
                            overrides,
                            self.config.invocations_low_alarm,
                        );
                        all.extend(a);
                        sync.skipped.extend(s);
                    }
                    sync.decision = "ensured".into();
                    all
                }
                Some(view) if matches!(view.status.as_str(), "Deleting" | "Failed") => {
                    sync.decision = "removed".into();
                    Vec::new()
                }
                Some(view) => {
                    sync.decision = "ignored".into();
                    sync.status = format!("{} (now {})", status, view.status);
                    return Ok(self.report(sync));
                }
                None => {
                    sync.decision = "removed".into();
                    Vec::new()
                }
            },
            "Deleting" | "Failed" => {
                sync.decision = "removed".into();
                Vec::new()
            }
            _ => {
                sync.decision = "ignored".into();
                return Ok(self.report(sync));
            }
        };
        let prefix = endpoint_prefix(&self.config.alarm_prefix, name);
        let existing = self.alarms.list(&prefix).await.map_err(retry)?;
        let wanted_names: BTreeSet<&str> = wanted.iter().map(|a| a.name.as_str()).collect();
        let actions = [self.config.alerts_topic_arn.clone()];
        let want_actions = (actions.to_vec(), actions.to_vec());
        for alarm in &wanted {
            // Unchanged (same definition and actions): nothing to write.
            let same = existing.iter().any(|e| {
                e.name == alarm.name
                    && e.actions == want_actions
                    && e.definition.as_ref() == Some(&alarm.clone().normalized())
            });
            if same {
                sync.unchanged += 1;
                continue;
            }
            self.alarms.put(alarm, &actions).await.map_err(retry)?;
            sync.put.push(alarm.name.clone());
        }
        // Another endpoint's name can extend this one's (`e` and `e-2`): its alarms share the
        // prefix, so the EndpointName dimension must say this endpoint too.
        let stale: Vec<String> = existing
            .into_iter()
            .filter(|a| {
                a.endpoints.iter().any(|e| e == name) && !wanted_names.contains(a.name.as_str())
            })
            .map(|a| a.name)
            .collect();
        if !stale.is_empty() {
            self.alarms.delete(&stale).await.map_err(retry)?;
            sync.deleted = stale;
        }
        Ok(self.report(sync))
    }

    /// One `endpoint_alarms` report line per event.
    fn report(&self, sync: AlarmSync) -> AlarmSync {
        info!(endpoint = %sync.endpoint, decision = %sync.decision, put = sync.put.len(), deleted = sync.deleted.len(), "alarms synced");
        let mut m = MetricRecord::new(self.config.common.metrics_namespace.clone(), Utc::now());
        m.dimension("Decision", &sync.decision)
            .dimension_set(&["Decision"])
            .metric("EndpointAlarmSyncs", 1.0, Unit::Count)
            .property("sagewatch_event", "endpoint_alarms")
            .property("endpoint", &sync.endpoint)
            .property("status", &sync.status)
            .property("put", &sync.put)
            .property("unchanged", sync.unchanged)
            .property("deleted", &sync.deleted);
        if !sync.skipped.is_empty() {
            m.property("skipped", &sync.skipped);
        }
        if !sync.ignored_tags.is_empty() {
            m.property("ignored_tags", &sync.ignored_tags);
        }
        if sync.reconciled {
            m.property("reconciled", true);
        }
        self.sink.write(m.render_logged());
        sync
    }

    /// Repairs what lost state-change events left: see [`reconcile`]. Every call is one the
    /// event path makes too, so a real event arriving during the run finds nothing to redo.
    async fn reconcile(&self) -> Result<ReconcileRun, Error> {
        let now = Utc::now();
        let listed = self.endpoints.list_in_service().await.map_err(retry)?;
        let owned = self
            .alarms
            .list(&self.config.alarm_prefix)
            .await
            .map_err(retry)?;
        let plan = reconcile::plan(
            &listed,
            &owned,
            now,
            self.config.reconcile_lookback,
            self.config.reconcile_max_endpoints,
        );
        let mut run = ReconcileRun {
            listed: listed.len(),
            alarms: owned.len(),
            deferred: plan.deferred,
            ..ReconcileRun::default()
        };
        for e in &plan.ensure {
            // The event carries the tags; here they are read (opt-outs and overrides).
            let tags = match &e.arn {
                Some(arn) => self.endpoints.tags(arn).await.map_err(retry)?,
                None => BTreeMap::new(),
            };
            let overrides = Overrides::from_tags(&tags, &self.config.latency_statistic);
            let sync = self
                .sync_alarms(&e.endpoint, &Status::new("InService"), &overrides, true)
                .await?;
            if sync.changed() {
                self.count_reconciled(&e.endpoint, "InService");
            }
            run.synced.push(sync);
        }
        for (endpoint, names) in plan.orphans {
            let gone = match self.endpoints.describe(&endpoint).await.map_err(retry)? {
                None => true,
                Some(view) if matches!(view.status.as_str(), "Failed" | "Deleting") => {
                    let tags = match &view.arn {
                        Some(arn) => self.endpoints.tags(arn).await.map_err(retry)?,
                        None => BTreeMap::new(),
                    };
                    !Overrides::from_tags(&tags, &self.config.latency_statistic).alarms_off
                }
                // Creating, Updating, RollingBack…: its next event decides.
                Some(_) => false,
            };
            if !gone {
                run.kept.push(endpoint);
                continue;
            }
            self.alarms.delete(&names).await.map_err(retry)?;
            self.count_reconciled(&endpoint, "Deleting");
            run.removed.insert(endpoint, names);
        }
        info!(
            sagewatch_event = "reconcile_run",
            listed = run.listed,
            alarms = run.alarms,
            reconciled = run.synced.iter().filter(|s| s.changed()).count() + run.removed.len(),
            kept = run.kept.len(),
            deferred = run.deferred,
            "reconciliation done"
        );
        if run.deferred > 0 {
            // The same metric as the job sweep's, so one dashboard widget shows both.
            let m = sweep::bound_reached(
                &self.config.common.metrics_namespace,
                now,
                FUNCTION,
                Bound::Jobs,
            );
            self.sink.write(m.render_logged());
            warn!(
                deferred = run.deferred,
                "reconciliation bound reached; the rest waits for the next run"
            );
        }
        Ok(run)
    }

    /// `ReconciledEvents` by [Function, Kind]: an event SageMaker did not deliver (or we did
    /// not handle) that the reconciliation made up for.
    fn count_reconciled(&self, endpoint: &str, missed: &str) {
        let mut m = sweep::reconciled_record(
            &self.config.common.metrics_namespace,
            Utc::now(),
            FUNCTION,
            "Endpoint",
        );
        m.property("sagewatch_event", "reconciled")
            .property("endpoint", endpoint)
            .property("missed", missed);
        self.sink.write(m.render_logged());
    }

    async fn idle_check(&self) -> Result<IdleRun, Error> {
        let now = Utc::now();
        let since = now - self.config.lookback;
        let listed = self.endpoints.list_in_service().await.map_err(retry)?;
        // Too young to be idle: no Describe, no series.
        let old: Vec<_> = listed
            .into_iter()
            .filter(|e| e.creation_time.is_some_and(|c| c <= since))
            .collect();
        let mut views = Vec::new();
        for e in &old {
            if let Some(view) = self.endpoints.describe(&e.name).await.map_err(retry)? {
                views.push(view);
            }
        }
        let series: Vec<Series> = views
            .iter()
            .flat_map(|v| {
                v.variants.iter().map(|var| Series {
                    endpoint: v.name.clone(),
                    variant: var.name.clone(),
                })
            })
            .collect();
        let mut sums = std::collections::HashMap::new();
        let mut metric_calls = 0;
        for chunk in series.chunks(MAX_SERIES_PER_CALL) {
            sums.extend(
                self.metrics
                    .invocation_sums(chunk, since, now)
                    .await
                    .map_err(retry)?,
            );
            metric_calls += 1;
        }
        let mut idle = Vec::new();
        for v in &views {
            let Some(mut found) = assess(v, &sums, now, self.config.lookback, &self.config.prices)
            else {
                continue;
            };
            let tags = match &v.arn {
                Some(arn) => self.endpoints.tags(arn).await.map_err(retry)?,
                None => BTreeMap::new(),
            };
            let tagged = Overrides::from_tags(&tags, &self.config.latency_statistic).idle_delete;
            found.action = planned_action(
                tagged,
                Safety {
                    dry_run: self.config.dry_run,
                    kill_switch: self.config.kill_switch,
                },
            );
            if found.action == Action::Deleted {
                found.action = match self.endpoints.delete(&v.name).await {
                    Ok(DeleteOutcome::Deleting) => Action::Deleted,
                    Ok(DeleteOutcome::AlreadyGone(_)) => Action::AlreadyGone,
                    Err(e) if e.is_retryable() => return Err(retry(e)),
                    Err(e) => {
                        warn!(endpoint = %v.name, error = %e, "DeleteEndpoint refused");
                        Action::Failed
                    }
                };
            }
            if found.action == Action::Deleted {
                found.recreate = Some(recreate_command(
                    &v.name,
                    v.config_name.as_deref(),
                    &self.config.region,
                ));
            }
            idle.push(found);
        }
        worst_first(&mut idle);
        for e in &idle {
            self.emit_idle(e);
        }
        if !idle.is_empty() {
            self.notifier
                .publish(&self.digest(&idle, now))
                .await
                .map_err(retry)?;
            publish_chat(
                self.chat.as_ref(),
                &self.chat_digest(&idle),
                &self.sink,
                &self.config.common.metrics_namespace,
                FUNCTION,
            )
            .await;
        }
        Ok(IdleRun {
            checked: views.len(),
            idle,
            metric_calls,
        })
    }

    /// One line: the `idle_endpoint` report and the IdleEndpoints / IdleInstanceHours metrics.
    fn emit_idle(&self, e: &IdleEndpoint) {
        let account = self
            .config
            .common
            .home_account
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let mut m = MetricRecord::new(self.config.common.metrics_namespace.clone(), Utc::now());
        m.dimension("Account", &account)
            .dimension("InstanceType", &e.instance_type)
            .dimension_set(&["Account"])
            .dimension_set(&["InstanceType"])
            .metric("IdleEndpoints", 1.0, Unit::Count)
            .metric("IdleInstanceHours", e.instance_hours, Unit::None)
            .property("sagewatch_event", "idle_endpoint")
            .property("endpoint", &e.endpoint)
            .property("variants", &e.variants)
            .property("instances", &e.instances)
            .property("idle_since", e.idle_since.to_rfc3339())
            .property("instance_hours", e.instance_hours)
            .property("action", e.action);
        if let Some(c) = e.estimated_cost {
            m.property("estimated_cost_usd", c);
        }
        self.sink.write(m.render_logged());
    }

    fn digest(&self, idle: &[IdleEndpoint], now: DateTime<Utc>) -> Notification {
        let hours = self.config.lookback.num_hours();
        let mut text = format!(
            "{} SageMaker endpoint(s) had no invocation in the last {hours} h (worst first):\n",
            idle.len()
        );
        for line in digest_lines(idle) {
            text.push_str(&format!("\n- {line}"));
        }
        Notification::new(
            &digest_subject(idle),
            text,
            json!({"sagewatch_event": "idle_digest", "at": now.to_rfc3339(), "lookback_hours": hours, "idle": idle}),
        )
        .attribute("decision", "idle_endpoints")
    }

    /// The digest for the chat topic (the shared custom-notification rendering): one thread
    /// per account and region, so each hour's digest lands under the previous one.
    fn chat_digest(&self, idle: &[IdleEndpoint]) -> Notification {
        let hours = self.config.lookback.num_hours();
        let account = self
            .config
            .common
            .home_account
            .as_deref()
            .unwrap_or("unknown");
        let mut description =
            format!("No invocation in the last {hours} h on any variant (worst first):\n");
        for line in digest_lines(idle) {
            description.push_str(&format!("\n• {line}"));
        }
        let mut message = ChatMessage::new(
            &format!(":zzz: {} idle SageMaker endpoint(s)", idle.len()),
            &description,
        )
        .next_step("Delete one you no longer need: `aws sagemaker delete-endpoint --endpoint-name <name>` (the config stays, so it can be recreated)")
        .next_step("Or tag it `sagewatch:idle-action=delete`: endpoint-guard deletes it when dry-run is off")
        .keyword("SageMaker")
        .keyword("idle-endpoint")
        .keyword(account)
        .thread(format!("sagewatch-idle-{account}-{}", self.config.region))
        .summary(digest_subject(idle))
        .event_type("idle_endpoints");
        for e in idle.iter().take(chat::MAX_ITEMS) {
            message = message.resource(format!(
                "arn:aws:sagemaker:{}:{account}:endpoint/{}",
                self.config.region,
                e.endpoint.to_lowercase()
            ));
        }
        Notification::chat(&digest_subject(idle), &message).attribute("decision", "idle_endpoints")
    }
}

fn digest_subject(idle: &[IdleEndpoint]) -> String {
    format!("sagewatch: {} idle SageMaker endpoint(s)", idle.len())
}

/// One line per idle endpoint, shared by the e-mail digest and the chat notice.
fn digest_lines(idle: &[IdleEndpoint]) -> Vec<String> {
    idle.iter()
        .map(|e| {
            let cost = e
                .estimated_cost
                .map(|c| format!(", about {c:.2} USD"))
                .unwrap_or_default();
            let action = serde_json::to_value(e.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut line = format!(
                "{}: {} — {:.1} instance-hours{cost}; action: {action}",
                e.endpoint,
                e.instances.join(", "),
                e.instance_hours,
            );
            if let Some(cmd) = &e.recreate {
                line.push_str(&format!("\n  recreate: {cmd}"));
            }
            line
        })
        .collect()
}
