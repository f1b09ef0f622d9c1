//! endpoint-canary: every SageMaker endpoint gets a health signal even without traffic, and
//! every deploy is smoke-tested.
//!
//! Two triggers. A schedule whose input lists checks (`{"checks": [...]}`, see
//! [`check::CheckSpec`]); and "SageMaker Endpoint State Change" to InService, whose endpoint's
//! `sagewatch:canary` tag names a check set of the configuration (one check per template, per
//! production variant when there are several). Each check is one InvokeEndpoint with a client
//! timeout; the answer is judged ([`validate::judge`]); what went wrong is a
//! [`kind::FailureKind`]. Per check: EMF `CanarySuccess` (0/1) and `CanaryLatency` (ms) by
//! [EndpointName] and [EndpointName, VariantName], and `CanaryErrors` by [EndpointName,
//! ErrorKind]. A failed smoke test (deploy trigger) is published to SNS; scheduled failures
//! are left to the `CanarySuccess` alarm. Payloads and response bodies are never logged
//! unless SAGEWATCH_CANARY_DEBUG_BODIES is on (then truncated and redacted).

pub mod adapter;
pub mod check;
pub mod kind;
pub mod ports;
pub mod validate;

use check::{parse_check_sets, validate_all, Check, CheckSets, ScheduleInput, MAX_TIMEOUT_MS};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use kind::FailureKind;
use lambda_runtime::{Error, LambdaEvent};
use ports::{Endpoints, Invocation, InvokeError, ModelFailure};
use sagewatch::classify::{classify, Line};
use sagewatch::config::Common;
use sagewatch::emf::{MetricRecord, Unit};
use sagewatch::env::Env;
use sagewatch::error::{ConfigError, RetryableFailure};
use sagewatch::events::{Detail, SageMakerEvent};
use sagewatch::notify::{Notification, Notifier};
use sagewatch::output::Sink;
use sagewatch::redact::bounded;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// The `Function` dimension of the health counters.
pub const FUNCTION: &str = "endpoint-canary";
/// The endpoint tag whose value names the check set of a post-deploy smoke test.
pub const CHECK_SET_TAG: &str = "sagewatch:canary";
/// The container's message in details and alerts, after redaction.
const MAX_MODEL_MESSAGE_BYTES: usize = 512;
/// A logged payload or body (debug flag only), after redaction.
const MAX_DEBUG_BODY_BYTES: usize = 1024;

pub struct Config {
    pub common: Common,
    /// Where failed smoke tests are published.
    pub alerts_topic_arn: String,
    /// Check sets by name, for the InService trigger.
    pub check_sets: CheckSets,
    /// The set for an InService endpoint without the tag (none: such endpoints are skipped).
    pub default_set: Option<String>,
    /// Checks of one invocation run at most this many at a time.
    pub concurrency: usize,
    /// A check's client timeout when it gives none.
    pub default_timeout_ms: u64,
    /// Log payloads and response bodies (truncated, redacted). Off by default: they may hold
    /// personal data.
    pub debug_bodies: bool,
}

impl Config {
    /// Tests start here: no sets, concurrency 4, 5 s timeout, no debug logging.
    pub fn new(alerts_topic_arn: &str) -> Self {
        Config {
            common: Common::new(FUNCTION),
            alerts_topic_arn: alerts_topic_arn.to_owned(),
            check_sets: CheckSets::new(),
            default_set: None,
            concurrency: 4,
            default_timeout_ms: 5000,
            debug_bodies: false,
        }
    }

    /// The shared settings, SAGEWATCH_ALERTS_TOPIC_ARN, SAGEWATCH_CANARY_TIMEOUT_MS (default
    /// 5000, at most 60000), SAGEWATCH_CANARY_CONCURRENCY (default 4),
    /// SAGEWATCH_CANARY_CHECK_SETS (JSON, checked now), SAGEWATCH_CANARY_DEFAULT_SET (a key
    /// of the sets) and SAGEWATCH_CANARY_DEBUG_BODIES (default false).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let invalid = |name: &str, value: String, reason: String| ConfigError::Invalid {
            name: name.to_owned(),
            value,
            reason,
        };
        let default_timeout_ms = env.positive("SAGEWATCH_CANARY_TIMEOUT_MS", 5000)?;
        if default_timeout_ms > MAX_TIMEOUT_MS {
            return Err(invalid(
                "SAGEWATCH_CANARY_TIMEOUT_MS",
                default_timeout_ms.to_string(),
                format!("at most {MAX_TIMEOUT_MS}"),
            ));
        }
        let concurrency = env.positive("SAGEWATCH_CANARY_CONCURRENCY", 4)?;
        let check_sets = match env.optional("SAGEWATCH_CANARY_CHECK_SETS") {
            None => CheckSets::new(),
            Some(text) => parse_check_sets(&text, default_timeout_ms).map_err(|reason| {
                invalid(
                    "SAGEWATCH_CANARY_CHECK_SETS",
                    sagewatch::classify::truncate(&text, 200),
                    reason,
                )
            })?,
        };
        let default_set = env.optional("SAGEWATCH_CANARY_DEFAULT_SET");
        if let Some(set) = &default_set {
            if !check_sets.contains_key(set) {
                return Err(invalid(
                    "SAGEWATCH_CANARY_DEFAULT_SET",
                    set.clone(),
                    "not a key of SAGEWATCH_CANARY_CHECK_SETS".to_owned(),
                ));
            }
        }
        Ok(Config {
            common: Common::from_env(env, FUNCTION)?,
            alerts_topic_arn: env.required("SAGEWATCH_ALERTS_TOPIC_ARN")?,
            check_sets,
            default_set,
            concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
            default_timeout_ms,
            debug_bodies: env.flag("SAGEWATCH_CANARY_DEBUG_BODIES", false)?,
        })
    }
}

pub struct Canary<E, N, S> {
    pub endpoints: E,
    pub notifier: N,
    pub sink: S,
    pub config: Config,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Deploy,
}

/// One check's outcome; the invocation's answer lists them (handy with `cargo lambda invoke`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub endpoint: String,
    /// The variant that answered, else the one the check targeted.
    pub variant: Option<String>,
    pub passed: bool,
    pub kind: Option<FailureKind>,
    pub detail: String,
    /// Only when an answer came back.
    pub latency_ms: Option<u64>,
    /// ModelError: the container's status, its classified message's category and hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_stream_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub trigger: Option<Trigger>,
    pub endpoint: Option<String>,
    pub check_set: Option<String>,
    pub checks: Vec<CheckResult>,
    pub passed: usize,
    pub failed: usize,
    pub alerted: bool,
    /// Why nothing ran (not InService, no check set, …).
    pub skipped: Option<String>,
    /// Why the input was refused (counted as InvalidEvents).
    pub invalid: Option<String>,
}

impl<E: Endpoints, N: Notifier, S: Sink> Canary<E, N, S> {
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Summary, Error> {
        let now = Utc::now();
        let payload = event.payload;
        if payload.get("checks").is_some() {
            return Ok(self.scheduled(payload, now).await);
        }
        if payload.get("detail-type").is_some() {
            return self.deployed(payload, now).await;
        }
        Ok(self.invalid(
            now,
            "unrecognised_payload",
            "neither a schedule input ({\"checks\": [...]}) nor an EventBridge event",
        ))
    }

    fn invalid(&self, now: DateTime<Utc>, reason: &str, detail: &str) -> Summary {
        let detail = self
            .config
            .common
            .health()
            .invalid(&self.sink, now, reason, detail, &[]);
        Summary {
            invalid: Some(detail),
            ..Summary::default()
        }
    }

    async fn scheduled(&self, payload: Value, now: DateTime<Utc>) -> Summary {
        let input: ScheduleInput = match serde_json::from_value(payload) {
            Ok(i) => i,
            Err(e) => return self.invalid(now, "invalid_schedule_input", &e.to_string()),
        };
        let checks = match validate_all(&input.checks, self.config.default_timeout_ms) {
            Ok(c) => c,
            Err(e) => return self.invalid(now, "invalid_check", &e.to_string()),
        };
        let results = self.run(checks, Trigger::Schedule, now).await;
        summary(Trigger::Schedule, None, None, results)
    }

    async fn deployed(&self, payload: Value, now: DateTime<Utc>) -> Result<Summary, Error> {
        let event = match SageMakerEvent::from_value(payload) {
            Ok(e) => e,
            Err(e) => return Ok(self.invalid(now, "malformed_event", &e.to_string())),
        };
        let Detail::Endpoint(ep) = &event.detail else {
            let detail = format!(
                "detail-type {:?} is not an endpoint state change",
                event.detail_type
            );
            return Ok(self.invalid(now, "not_an_endpoint_event", &detail));
        };
        let Some(endpoint) = ep.endpoint_name.clone().filter(|n| !n.is_empty()) else {
            return Ok(self.invalid(now, "no_endpoint_name", "detail.EndpointName is missing"));
        };
        let skipped = |why: String| {
            info!(endpoint = %endpoint, reason = %why, "no smoke test");
            Ok(Summary {
                trigger: Some(Trigger::Deploy),
                endpoint: Some(endpoint.clone()),
                skipped: Some(why),
                ..Summary::default()
            })
        };
        let status = ep.endpoint_status.as_ref().map(|s| s.as_str().to_owned());
        if status.as_deref() != Some("InService") {
            return skipped(format!(
                "status {} is not InService",
                status.as_deref().unwrap_or("-")
            ));
        }
        let set_name = ep
            .tags
            .get(CHECK_SET_TAG)
            .cloned()
            .or_else(|| self.config.default_set.clone());
        let Some(set_name) = set_name else {
            return skipped(format!("no {CHECK_SET_TAG} tag and no default check set"));
        };
        let Some(templates) = self.config.check_sets.get(&set_name) else {
            let detail = format!(
                "{CHECK_SET_TAG}={set_name} names no check set in SAGEWATCH_CANARY_CHECK_SETS"
            );
            return Ok(self.invalid(now, "unknown_check_set", &detail));
        };
        // One check per template, per production variant when there are several.
        let variants: Vec<String> = ep
            .production_variants
            .iter()
            .filter_map(|v| v.get("VariantName")?.as_str().map(str::to_owned))
            .collect();
        let targets: Vec<Option<&str>> = if variants.len() > 1 {
            variants.iter().map(|v| Some(v.as_str())).collect()
        } else {
            vec![None]
        };
        let specs: Vec<_> = templates
            .iter()
            .flat_map(|t| targets.iter().map(|v| t.for_endpoint(&endpoint, *v)))
            .collect();
        let checks = match validate_all(&specs, self.config.default_timeout_ms) {
            Ok(c) => c,
            Err(e) => return Ok(self.invalid(now, "invalid_check", &e.to_string())),
        };
        let results = self.run(checks, Trigger::Deploy, now).await;
        let mut summary = summary(
            Trigger::Deploy,
            Some(endpoint.clone()),
            Some(set_name.clone()),
            results,
        );
        if summary.failed > 0 {
            let note = alert(&event, &endpoint, &set_name, &summary);
            match self.notifier.publish(&note).await {
                Ok(()) => summary.alerted = true,
                // The smoke test runs again on the retry: its metrics are a second sample.
                Err(e) if e.is_retryable() => return Err(Box::new(RetryableFailure::from(e))),
                Err(e) => error!(endpoint = %endpoint, error = %e, "smoke-test alert refused"),
            }
        }
        Ok(summary)
    }

    /// Runs the checks, at most `concurrency` at a time, results in the checks' order.
    async fn run(
        &self,
        checks: Vec<Check>,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Vec<CheckResult> {
        let results: Vec<CheckResult> = stream::iter(checks.iter().map(|c| self.run_one(c)))
            .buffered(self.config.concurrency.max(1))
            .collect()
            .await;
        for r in &results {
            self.record(r, trigger, now);
        }
        results
    }

    async fn run_one(&self, c: &Check) -> CheckResult {
        let inv = Invocation {
            endpoint: c.endpoint.clone(),
            variant: c.variant.clone(),
            inference_component: c.inference_component.clone(),
            content_type: c.content_type.clone(),
            accept: c.accept.clone(),
            body: c.body.clone(),
        };
        if self.config.debug_bodies {
            info!(check = %c.name, payload = %debug_text(&c.body), "canary payload (debug)");
        }
        let started = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_millis(c.timeout_ms),
            self.endpoints.invoke(&inv),
        )
        .await;
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut r = CheckResult {
            name: c.name.clone(),
            endpoint: c.endpoint.clone(),
            variant: c.variant.clone(),
            passed: false,
            kind: None,
            detail: String::new(),
            latency_ms: None,
            original_status: None,
            category: None,
            hint: None,
            log_stream_arn: None,
        };
        match answer {
            Err(_) => {
                r.kind = Some(FailureKind::ClientTimeout);
                r.detail = format!("no answer within {} ms", c.timeout_ms);
            }
            Ok(Ok(a)) => {
                if self.config.debug_bodies {
                    info!(check = %c.name, body = %debug_text(&a.body), "canary response (debug)");
                }
                r.latency_ms = Some(elapsed);
                if a.invoked_variant.is_some() {
                    r.variant = a.invoked_variant;
                }
                match validate::judge(&c.expect, &a.body, elapsed) {
                    None => {
                        r.passed = true;
                        r.detail = format!("answered in {elapsed} ms");
                    }
                    Some((kind, detail)) => {
                        r.kind = Some(kind);
                        r.detail = detail;
                    }
                }
            }
            Ok(Err(InvokeError::Model(m))) => model_failure(&mut r, &m),
            Ok(Err(InvokeError::Aws(e))) => {
                r.kind = Some(FailureKind::from_aws(e.kind));
                // from_sdk has redacted and bounded the message.
                r.detail = format!("{}: {}", e.code, e.message);
            }
        }
        if r.passed {
            info!(check = %r.name, endpoint = %r.endpoint, latency_ms = elapsed, "canary check passed");
        } else {
            warn!(check = %r.name, endpoint = %r.endpoint, kind = r.kind.map_or("-", FailureKind::as_str), detail = %r.detail, "canary check failed");
        }
        r
    }

    /// Per check: `CanarySuccess` and `CanaryLatency` by [EndpointName] and [EndpointName,
    /// VariantName]; on failure, `CanaryErrors` by [EndpointName, ErrorKind].
    fn record(&self, r: &CheckResult, trigger: Trigger, now: DateTime<Utc>) {
        let ns = &self.config.common.metrics_namespace;
        let mut m = MetricRecord::new(ns.clone(), now);
        m.dimension("EndpointName", &r.endpoint)
            .dimension_set(&["EndpointName"]);
        if let Some(v) = &r.variant {
            m.dimension("VariantName", v)
                .dimension_set(&["EndpointName", "VariantName"]);
        }
        m.metric(
            "CanarySuccess",
            if r.passed { 1.0 } else { 0.0 },
            Unit::Count,
        );
        if let Some(ms) = r.latency_ms {
            #[allow(clippy::cast_precision_loss)] // milliseconds stay far below 2^52
            m.metric("CanaryLatency", ms as f64, Unit::Milliseconds);
        }
        m.property("sagewatch_event", "canary_check")
            .property("trigger", trigger);
        if let Value::Object(fields) = json!(r) {
            for (k, v) in fields {
                if !v.is_null() && k != "endpoint" && k != "variant" {
                    m.property(k, v);
                }
            }
        }
        let mut lines = m.render_logged();
        if let Some(kind) = r.kind {
            let mut e = MetricRecord::new(ns.clone(), now);
            e.dimension("EndpointName", &r.endpoint)
                .dimension("ErrorKind", kind.as_str())
                .dimension_set(&["EndpointName", "ErrorKind"])
                .metric("CanaryErrors", 1.0, Unit::Count)
                .property("check", r.name.clone());
            lines.extend(e.render_logged());
        }
        self.sink.write(lines);
    }
}

/// The container's status and message (redacted, bounded) and the classifier's hint.
fn model_failure(r: &mut CheckResult, m: &ModelFailure) {
    let message = bounded(
        m.original_message.as_deref().unwrap_or(""),
        MAX_MODEL_MESSAGE_BYTES,
    );
    let c = classify(
        &[Line {
            source: "ModelError",
            timestamp: None,
            text: &message,
        }],
        None,
    );
    r.kind = Some(FailureKind::ModelError);
    r.original_status = m.original_status;
    r.detail = format!(
        "the container answered {}: {}",
        m.original_status.map_or("-".to_owned(), |s| s.to_string()),
        message
    );
    r.category = Some(c.category.as_str().to_owned());
    r.hint = Some(c.hint);
    r.log_stream_arn = m.log_stream_arn.clone();
}

fn debug_text(body: &[u8]) -> String {
    bounded(&String::from_utf8_lossy(body), MAX_DEBUG_BODY_BYTES)
}

fn summary(
    trigger: Trigger,
    endpoint: Option<String>,
    check_set: Option<String>,
    checks: Vec<CheckResult>,
) -> Summary {
    let passed = checks.iter().filter(|c| c.passed).count();
    Summary {
        trigger: Some(trigger),
        endpoint,
        check_set,
        failed: checks.len() - passed,
        passed,
        checks,
        ..Summary::default()
    }
}

/// A failed smoke test: short text for e-mail, the whole summary as JSON, filterable
/// attributes (`source`, `category` = the first failure's kind, `endpoint`, `account`,
/// `region`).
fn alert(event: &SageMakerEvent, endpoint: &str, set: &str, s: &Summary) -> Notification {
    let failed: Vec<&CheckResult> = s.checks.iter().filter(|c| !c.passed).collect();
    let first = failed
        .first()
        .and_then(|c| c.kind)
        .map_or("unknown", FailureKind::as_str);
    let subject = format!(
        "sagewatch: smoke test failed for {endpoint} ({} of {} checks)",
        s.failed,
        s.checks.len()
    );
    let mut text = format!(
        "sagewatch endpoint-canary: the post-deploy smoke test of endpoint {endpoint} failed.\n\nCheck set: {set}\nAccount/region: {}/{}\nPassed: {} Failed: {}\n",
        event.account.as_deref().unwrap_or("-"),
        event.region.as_deref().unwrap_or("-"),
        s.passed,
        s.failed,
    );
    for c in &failed {
        let kind = c.kind.unwrap_or(FailureKind::ServiceError);
        text.push_str(&format!(
            "\n- {} ({}): {} - {}\n  Look at: {}\n",
            c.name,
            c.variant.as_deref().unwrap_or("any variant"),
            kind.as_str(),
            c.detail,
            kind.look_at()
        ));
        if let Some(h) = &c.hint {
            text.push_str(&format!("  Hint: {h}\n"));
        }
    }
    let report = json!({
        "sagewatch_event": "canary_smoke_test",
        "endpoint": endpoint,
        "check_set": set,
        "account": event.account,
        "region": event.region,
        "event_id": event.id,
        "passed": s.passed,
        "failed": s.failed,
        "checks": s.checks,
    });
    Notification::new(&subject, text, report)
        .attribute("source", FUNCTION)
        .attribute("category", first)
        .attribute("endpoint", endpoint)
        .attribute("account", event.account.clone().unwrap_or_default())
        .attribute("region", event.region.clone().unwrap_or_default())
}
