//! The sweep (issue #18), the augmenter's third input: jobs whose end SageMaker's event never
//! delivered (EventBridge delivery is best effort) are found in List*Jobs and handed to the
//! same code path as the event, built from Describe*Job (`sagewatch::sweep`).
//!
//! Per account (SAGEWATCH_SWEEP_ACCOUNTS, default the home account; another account through
//! the cross-account role) and job type: List*Jobs pages of jobs last modified inside the
//! window (newest first, at most `max_pages`); per job in an end state, a read of the event
//! path's own claim key (a claim: nothing to do, no other call); no claim: Describe*Job →
//! the event it would have been → [`Augmenter::job`] (host metrics, then the `Once` claim,
//! then EMF and `job_summary` with `reconciled: true`) and `ReconciledEvents`. At most
//! `max_jobs` jobs per run get that far; a run that stops at a bound says so (log and
//! `SweepBoundReached`), and the next run, whose window overlaps, picks up the rest.
//!
//! Idempotence comes from the claim: a late real event finds the sweep's claim (a duplicate),
//! a late sweep finds the event's (skipped), and a sweep racing an event is decided by the
//! conditional put of the claim itself (the loser is a duplicate).

use crate::jobs::{job_key, Origin};
use crate::ports::{ClaimReader, EventBus, HostMetrics, Jobs, ListRequest, Sink};
use crate::{Augmenter, Disposition, Failure, FUNCTION};
use chrono::{DateTime, Utc};
use lambda_runtime::Error;
use sagewatch::claims::{Attempt, ClaimStore};
use sagewatch::error::{RetryLater, RetryableFailure};
use sagewatch::events::JobType;
use sagewatch::sweep::{self, Bound, Listed, Request, Window, JOB_TYPES};
use sagewatch::target::Target;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use tracing::{error, info, warn};

/// Stop starting work this long before the invocation's deadline: one job's calls (Describe,
/// GetMetricData, PutItem) take well under this.
const DEADLINE_MARGIN_MS: i64 = 10_000;

/// What one sweep found and did (the direct invoke's answer, and the run's log line).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepSummary {
    pub window: Option<Window>,
    pub accounts: Vec<String>,
    /// List*Jobs calls.
    pub pages: u32,
    /// Jobs on those pages.
    pub listed: u32,
    /// Of those, in an end state and inside the window.
    pub ended: u32,
    /// Of those, claimed already (by their event, or an earlier sweep): nothing done.
    pub already_claimed: u32,
    /// Describe*Job calls (jobs without a claim, up to `max_jobs`).
    pub described: u32,
    /// Counted by this sweep, by `Kind` (`ReconciledEvents`).
    pub reconciled: BTreeMap<&'static str, u32>,
    /// Put on the event bus again for the other consumers (failure-enricher, overfit-guard).
    pub reemitted: u32,
    /// Claimed by the job's event between our read and our put.
    pub duplicates: u32,
    /// Listed, then gone (deleted, or not in an end state when described).
    pub gone: u32,
    /// Calls that failed (account/kind: code: message); retryable ones fail the invocation.
    pub errors: Vec<String>,
    /// The bound that ended the run early, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<Bound>,
}

impl SweepSummary {
    pub fn reconciled_total(&self) -> u32 {
        self.reconciled.values().sum()
    }
}

/// One listing (a job type in an account) ended: normally, at its page bound, or at a
/// bound that ends the whole run.
enum Listing {
    Done,
    PagesBound,
    Stop(Bound),
}

/// What a run carries from listing to listing.
struct Run<'a> {
    window: Window,
    home: Option<&'a str>,
    region: Option<&'a str>,
    now: DateTime<Utc>,
    attempt: &'a Attempt,
    deadline_ms: u64,
    /// Keys seen this run: a job listed twice (pages shift while jobs change) is done once.
    seen: HashSet<String>,
    handled: u32,
    /// The retryable failures: the invocation fails with them once the run is over.
    retry: Vec<RetryLater>,
    summary: SweepSummary,
}

impl Run<'_> {
    fn near_deadline(&self) -> bool {
        // 0: no deadline known (tests, local runs).
        self.deadline_ms > 0
            && Utc::now().timestamp_millis() + DEADLINE_MARGIN_MS
                > i64::try_from(self.deadline_ms).unwrap_or(i64::MAX)
    }

    fn failed(&mut self, what: String, e: RetryLater) {
        error!(what = %what, error = %e, "sweep call failed");
        self.summary.errors.push(format!("{what}: {e}"));
        let retryable = match &e {
            RetryLater::Aws(a) => a.is_retryable(),
            RetryLater::NotReady(_) => true,
        };
        if retryable {
            self.retry.push(e);
        }
    }
}

impl<D: ClaimStore + ClaimReader, M: HostMetrics, S: Sink, J: Jobs, B: EventBus>
    Augmenter<D, M, S, J, B>
{
    /// One sweep run. `Err` (retryable) when a call failed retryably — after the other
    /// accounts and kinds were swept, so one throttled account does not hold up the rest.
    pub(crate) async fn sweep(
        &self,
        request: &Request,
        home: Option<&str>,
        region: Option<&str>,
        now: DateTime<Utc>,
        attempt: &Attempt,
        deadline_ms: u64,
    ) -> Result<SweepSummary, Error> {
        let settings = &self.config.sweep;
        let window = request.window(settings, now);
        let mut run = Run {
            window,
            home,
            region,
            now,
            attempt,
            deadline_ms,
            seen: HashSet::new(),
            handled: 0,
            retry: Vec::new(),
            summary: SweepSummary {
                window: Some(window),
                accounts: settings.accounts(home),
                ..SweepSummary::default()
            },
        };
        if request.lookback.unwrap_or(settings.lookback) >= self.dedupe_ttl() {
            // Claims older than the TTL are gone: such a look-back would count jobs again.
            let reason = "lookback_minutes must be shorter than the claims' TTL";
            self.config
                .common
                .health()
                .invalid(&self.sink, now, "invalid_sweep", reason, &[]);
            run.summary.errors.push(reason.to_owned());
            return Ok(run.summary);
        }
        if run.summary.accounts.is_empty() {
            error!("no account to sweep: SAGEWATCH_SWEEP_ACCOUNTS is empty and the home account is unknown");
            run.summary
                .errors
                .push("no account to sweep (home account unknown)".to_owned());
        }
        'accounts: for account in run.summary.accounts.clone() {
            let target = match self.config.common.target(Some(&account), region, home) {
                Ok(t) => t,
                Err(e) => {
                    // A configuration mistake, not a passing fault: logged, no retry.
                    error!(account = %account, error = %e, "cannot sweep this account");
                    run.summary.errors.push(format!("{account}: {e}"));
                    continue;
                }
            };
            for job_type in JOB_TYPES {
                if window.is_empty() {
                    break 'accounts;
                }
                match self.listing(&mut run, &target, &account, job_type).await {
                    Listing::Done => {}
                    Listing::PagesBound => {
                        run.summary.bound.get_or_insert(Bound::Pages);
                    }
                    Listing::Stop(bound) => {
                        run.summary.bound = Some(bound);
                        break 'accounts;
                    }
                }
            }
        }
        let summary = run.summary;
        if let Some(bound) = summary.bound {
            warn!(
                bound = bound.as_str(),
                pages = summary.pages,
                described = summary.described,
                "sweep stopped at a bound; the next run (overlapping window) picks up the rest"
            );
            let ns = &self.config.common.metrics_namespace;
            self.sink
                .write(sweep::bound_reached(ns, now, FUNCTION, bound).render_logged());
        }
        info!(
            pages = summary.pages,
            listed = summary.listed,
            ended = summary.ended,
            already_claimed = summary.already_claimed,
            described = summary.described,
            reconciled = summary.reconciled_total(),
            duplicates = summary.duplicates,
            gone = summary.gone,
            errors = summary.errors.len(),
            "sweep done"
        );
        if run.retry.is_empty() {
            Ok(summary)
        } else {
            Err(Box::new(RetryableFailure(run.retry)))
        }
    }

    /// One job type in one account: pages until the listing ends or a bound is met.
    async fn listing(
        &self,
        run: &mut Run<'_>,
        target: &Target,
        account: &str,
        job_type: JobType,
    ) -> Listing {
        let settings = &self.config.sweep;
        let mut next_token = None;
        for _ in 0..settings.max_pages {
            if run.near_deadline() {
                return Listing::Stop(Bound::Time);
            }
            let request = ListRequest {
                job_type,
                window: run.window,
                page_size: settings.page_size,
                next_token: next_token.take(),
            };
            let page = match self.jobs.list(target, &request).await {
                Ok(page) => page,
                Err(e) => {
                    run.failed(format!("{account}/{}", sweep::kind(job_type)), e.into());
                    return Listing::Done;
                }
            };
            run.summary.pages += 1;
            run.summary.listed += u32::try_from(page.jobs.len()).unwrap_or(u32::MAX);
            let window = run.window;
            for listed in page.jobs.iter().filter(|j| j.candidate(&window)) {
                run.summary.ended += 1;
                let key = job_key(Some(account), job_type, &listed.name, &listed.status);
                if !run.seen.insert(key.clone()) {
                    continue;
                }
                match self.dedupe.get(&key).await {
                    Ok(Some(_)) => {
                        run.summary.already_claimed += 1;
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        run.failed(key, e.into());
                        continue;
                    }
                }
                if run.handled >= settings.max_jobs {
                    return Listing::Stop(Bound::Jobs);
                }
                if run.near_deadline() {
                    return Listing::Stop(Bound::Time);
                }
                run.handled += 1;
                self.reconcile(run, target, account, job_type, listed).await;
            }
            match page.next_token {
                Some(t) if !t.is_empty() => next_token = Some(t),
                _ => return Listing::Done,
            }
        }
        Listing::PagesBound
    }

    /// A job without a claim: Describe*Job, then the event path.
    async fn reconcile(
        &self,
        run: &mut Run<'_>,
        target: &Target,
        account: &str,
        job_type: JobType,
        listed: &Listed,
    ) {
        let name = listed.name.as_str();
        let mut view = match self.jobs.describe(target, job_type, name).await {
            Ok(Some(view)) => view,
            Ok(None) => {
                run.summary.gone += 1;
                return;
            }
            Err(e) => {
                run.failed(format!("{account}/{}/{name}", job_type.as_str()), e.into());
                return;
            }
        };
        run.summary.described += 1;
        // The event carries the job's tags; Describe*Job does not. Read them only when the
        // reports copy some (SAGEWATCH_REPORT_TAG_KEYS).
        if !self.config.report_tag_keys.is_empty() {
            if let Some(arn) = view.arn.clone() {
                match self.jobs.tags(target, &arn).await {
                    Ok(tags) => view.tags = tags,
                    Err(e) if e.is_retryable() => {
                        run.failed(
                            format!("{account}/{}/{name} tags", job_type.as_str()),
                            e.into(),
                        );
                        return;
                    }
                    // Counted without tags, as an event without them would be.
                    Err(e) => warn!(job = name, error = %e, "cannot read the job's tags"),
                }
            }
        }
        // DescribeTransformJob has no LastModifiedTime: the listing's is the event's time.
        view.last_modified_time = view.last_modified_time.or(listed.last_modified);
        // Describe is newer than the listing; the claim follows the status it reports.
        if !view.status.is_terminal_job_status() {
            run.summary.gone += 1;
            return;
        }
        // Re-emitted before the claim: a crash or a failed put leaves the job unclaimed, so
        // the next run puts it again (the other consumers deduplicate by their own claims);
        // claimed first, a failed put would be lost for good.
        if let Err(e) = self.bus.put(&view.reemitted(account)).await {
            run.failed(
                format!("{account}/{}/{name} PutEvents", job_type.as_str()),
                e.into(),
            );
            return;
        }
        run.summary.reemitted += 1;
        let event = view.to_event(account, run.region);
        let attempt = run
            .attempt
            .record(usize::try_from(run.handled).unwrap_or(0));
        match Box::pin(self.job(&event, run.home, run.now, &attempt, Origin::Sweep)).await {
            Ok(p) if p.result == Disposition::Counted => {
                let ns = &self.config.common.metrics_namespace;
                self.sink
                    .write(sweep::reconciled(ns, run.now, FUNCTION, &view).render_logged());
                *run.summary
                    .reconciled
                    .entry(sweep::kind(job_type))
                    .or_default() += 1;
                info!(job = name, status = %view.status, key = p.key.as_deref().unwrap_or("-"), "reconciled: the job's event never arrived");
            }
            Ok(p) if p.result == Disposition::Duplicate => run.summary.duplicates += 1,
            Ok(_) => {}
            Err(Failure::Invalid(reason)) => {
                warn!(job = name, reason = %reason, "described job not usable");
                run.summary.gone += 1;
            }
            Err(Failure::Retry(e)) => {
                run.failed(format!("{account}/{}/{name}", job_type.as_str()), e)
            }
        }
    }
}
