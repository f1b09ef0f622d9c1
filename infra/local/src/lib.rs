//! Test support: the local AWS emulator (moto + the sagewatch extension in
//! `infra/local/emulator.py`) for tests that drive the real AWS SDK clients.
//!
//! ```no_run
//! # async fn demo() {
//! use sagewatch_emulator::{Emulator, JobKind};
//! let emu = Emulator::shared().await;
//! let sagemaker = aws_sdk_sagemaker::Client::new(&emu.sdk_config().await);
//! emu.seed_job(JobKind::Training, "job-1", serde_json::json!({"TrainingJobStatus": "InProgress"}))
//!     .await;
//! let job = sagemaker.describe_training_job().training_job_name("job-1").send().await;
//! # }
//! ```
//!
//! One emulator serves a whole test process: [`Emulator::shared`] spawns it once
//! (or uses `SAGEWATCH_EMULATOR_URL`), and the emulator exits by itself when the
//! test process is gone. Tests share it, so each test must use unique resource
//! names ([`unique_name`]).

mod fixtures;
pub mod template;
pub use fixtures::{create_dedupe_table, Inbox, Queue, Received};

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Region of [`Emulator::sdk_config`] and of jobs seeded without a `"Region"` field.
pub const REGION: &str = "us-east-1";
/// Account every resource lives in when signed with the test credentials.
pub const ACCOUNT_ID: &str = "123456789012";
/// Use this emulator instead of spawning one (e.g. `http://127.0.0.1:5000`).
pub const URL_ENV: &str = "SAGEWATCH_EMULATOR_URL";
/// Repository root (holds `.tools/venv` and `infra/local/emulator.py`).
pub const REPO_ENV: &str = "SAGEWATCH_REPO";
/// Set to `1` to let the emulator log every request to stderr.
pub const VERBOSE_ENV: &str = "SAGEWATCH_EMULATOR_VERBOSE";

const READY_PREFIX: &str = "SAGEWATCH_EMULATOR_READY ";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STDERR_TAIL_BYTES: usize = 16 * 1024;

/// The SageMaker job kinds the control API can seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Training,
    Processing,
    Transform,
}

impl JobKind {
    fn path_segment(self) -> &'static str {
        match self {
            JobKind::Training => "training-jobs",
            JobKind::Processing => "processing-jobs",
            JobKind::Transform => "transform-jobs",
        }
    }
}

/// A failed call to the emulator's control API.
#[derive(Debug)]
pub struct ControlError(String);

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "emulator control API: {}", self.0)
    }
}

impl std::error::Error for ControlError {}

/// A running emulator (see the crate docs).
#[derive(Debug)]
pub struct Emulator {
    endpoint: String,
    stderr_tail: Arc<Mutex<String>>,
}

static SHARED: OnceLock<Emulator> = OnceLock::new();

impl Emulator {
    /// One emulator per test process: uses `SAGEWATCH_EMULATOR_URL` if set, otherwise
    /// spawns `<repo>/.tools/venv/bin/python <repo>/infra/local/emulator.py --port 0
    /// --parent-pid <pid>` and waits (up to 30 s) for its READY line. Safe to call from
    /// many tests at once, each on its own tokio runtime.
    ///
    /// # Panics
    /// If the emulator cannot be started; the message says how to fix it
    /// (`make emulator-deps` when the Python venv is missing).
    pub async fn shared() -> &'static Emulator {
        if let Some(emulator) = SHARED.get() {
            return emulator;
        }
        // The process is spawned on a plain thread, so it is tied to no tokio runtime.
        match tokio::task::spawn_blocking(Emulator::shared_blocking).await {
            Ok(emulator) => emulator,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("emulator start-up task failed: {e}"),
        }
    }

    /// [`Emulator::shared`] for code that is not async.
    pub fn shared_blocking() -> &'static Emulator {
        SHARED.get_or_init(|| match std::env::var(URL_ENV) {
            Ok(url) if !url.trim().is_empty() => Emulator {
                endpoint: url.trim().trim_end_matches('/').to_owned(),
                stderr_tail: Arc::default(),
            },
            _ => Emulator::spawn().unwrap_or_else(|e| panic!("{e}")),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Last lines the spawned emulator wrote to stderr (empty when it was not spawned here).
    pub fn stderr_tail(&self) -> String {
        lock(&self.stderr_tail).clone()
    }

    /// SdkConfig for every SDK client: region us-east-1, static test credentials,
    /// `endpoint_url` = the emulator, nothing read from the host's environment.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .empty_test_environment()
            .region(Region::new(REGION))
            .credentials_provider(Credentials::from_keys(
                "AKIASAGEWATCHTEST",
                "sagewatch-test-secret",
                None,
            ))
            .endpoint_url(self.endpoint.clone())
            .load()
            .await
    }

    /// `POST /_sagewatch/sagemaker/<kind>-jobs/<name>`: creates the job if needed, applies
    /// `patch` (AWS field names, e.g. `{"TrainingJobStatus": "Failed", "FailureReason": ".."}`)
    /// and returns the job as `Describe<Kind>Job` shows it (timestamps in epoch seconds).
    ///
    /// # Panics
    /// If the emulator rejects the patch (unknown field, bad enum value, ...).
    pub async fn seed_job(&self, kind: JobKind, name: &str, patch: Value) -> Value {
        let path = format!("/_sagewatch/sagemaker/{}/{name}", kind.path_segment());
        match self.control("POST", &path, Some(&patch)).await {
            Ok(job) => job,
            Err(e) => panic!("seed_job({kind:?}, {name}): {e}"),
        }
    }

    /// Raw call to the control API (`path` starts with `/_sagewatch/`). Non-2xx answers
    /// are errors carrying the emulator's message.
    pub async fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ControlError> {
        let (status, body) = http_call(&self.endpoint, method, path, body).await?;
        let doc: Value = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body)
                .map_err(|e| ControlError(format!("{method} {path}: bad JSON {e}: {body}")))?
        };
        if (200..300).contains(&status) {
            Ok(doc)
        } else {
            let msg = doc.get("error").and_then(Value::as_str).unwrap_or(&body);
            Err(ControlError(format!(
                "{method} {path}: HTTP {status}: {msg}"
            )))
        }
    }

    fn spawn() -> Result<Emulator, String> {
        let repo = repo_root();
        let python = repo.join(".tools/venv/bin/python");
        let script = repo.join("infra/local/emulator.py");
        if !python.exists() {
            return Err(format!(
                "emulator Python venv missing: {} not found. Run `make emulator-deps` \
                 (python3 -m venv .tools/venv && .tools/venv/bin/pip install -r \
                 infra/local/requirements.txt), or set {URL_ENV} to a running emulator.",
                python.display()
            ));
        }
        let verbose = std::env::var(VERBOSE_ENV).is_ok_and(|v| v == "1");
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .args(["--host", "127.0.0.1", "--port", "0", "--parent-pid"])
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if verbose {
                Stdio::inherit()
            } else {
                Stdio::piped()
            });
        if verbose {
            cmd.arg("--verbose");
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start emulator {}: {e}", script.display()))?;

        let stderr_tail = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = Arc::clone(&stderr_tail);
            std::thread::spawn(move || drain_into_tail(stderr, &tail));
        }
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "emulator stdout was not captured".to_owned())?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix(READY_PREFIX) {
                    let _ = tx.send(Ok(url.trim().to_owned()));
                    return;
                }
            }
            let _ = tx.send(Err(()));
        });

        let failed = |what: &str, child: &mut std::process::Child| {
            let _ = child.kill();
            let _ = child.wait();
            // Give the stderr thread a moment to collect the traceback.
            std::thread::sleep(Duration::from_millis(200));
            format!(
                "emulator {what}. Its stderr:\n{}\n(Missing packages? Run `make emulator-deps`.)",
                lock(&stderr_tail)
            )
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(endpoint)) => Ok(Emulator {
                endpoint,
                stderr_tail,
            }),
            Ok(Err(())) => Err(failed("exited before it was ready", &mut child)),
            Err(_) => Err(failed(
                &format!("not ready after {}s", START_TIMEOUT.as_secs()),
                &mut child,
            )),
        }
    }
}

fn repo_root() -> PathBuf {
    match std::env::var_os(REPO_ENV) {
        Some(repo) if !repo.is_empty() => PathBuf::from(repo),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn drain_into_tail(mut stderr: impl Read, tail: &Mutex<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut t = lock(tail);
        t.push_str(&String::from_utf8_lossy(&buf[..n]));
        if t.len() > STDERR_TAIL_BYTES {
            let mut cut = t.len() - STDERR_TAIL_BYTES;
            while !t.is_char_boundary(cut) {
                cut += 1;
            }
            t.drain(..cut);
        }
    }
}

/// Minimal HTTP/1.1 client for the control API (loopback, JSON, `Connection: close`).
async fn http_call(
    endpoint: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, String), ControlError> {
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| ControlError(format!("endpoint {endpoint} is not http://")))?
        .trim_end_matches('/');
    let payload = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    let io = |e: std::io::Error| ControlError(format!("{method} {path} to {endpoint}: {e}"));
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(io)?;
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| ControlError(format!("{method} {path}: malformed response {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| ControlError(format!("{method} {path}: no status in {head:?}")))?;
    Ok((status, rest.to_owned()))
}

/// A name no other test (in this or a concurrent test process) uses: `<prefix>-<pid>-<n>`,
/// valid as a SageMaker job, log group, queue, topic or table name while `prefix` is
/// short, alphanumeric and dash-separated.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    static START: OnceLock<u128> = OnceLock::new();
    let start = START.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() % 1_000_000)
            .unwrap_or_default()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{start}-{n}", std::process::id())
}

/// Counts SDK operations by name (`"DescribeTrainingJob"`, ...) so tests can assert
/// "at most N AWS calls". Attach it to a client config; clones share the counts.
/// Retries of one operation count once.
///
/// ```no_run
/// # async fn demo(emu: &sagewatch_emulator::Emulator) {
/// use aws_sdk_sagemaker as sm;
/// let calls = sagewatch_emulator::CallCounter::default();
/// let conf = sm::config::Builder::from(&emu.sdk_config().await)
///     .interceptor(calls.clone())
///     .build();
/// let client = sm::Client::from_conf(conf);
/// // ... exercise the code under test ...
/// assert!(calls.total() <= 2, "{:?}", calls.counts());
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl CallCounter {
    /// Calls so far, by operation name.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        lock(&self.counts).clone()
    }

    /// Calls so far, all operations together.
    pub fn total(&self) -> usize {
        lock(&self.counts).values().sum()
    }

    /// Forget the calls so far.
    pub fn reset(&self) {
        lock(&self.counts).clear();
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "sagewatch_emulator::CallCounter"
    }

    // Not `read_before_execution`: for client-level interceptors that hook runs before the
    // operation's config (and so its `Metadata`) is in the bag. Serialization happens once
    // per operation, before the retry loop.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or_else(|| "<unknown>".to_owned(), |m| m.name().to_owned());
        *lock(&self.counts).entry(operation).or_default() += 1;
        Ok(())
    }
}

/// The faults left for one operation (shared by clones): the counter behind [`LoseAnswers`]
/// and [`FailCalls`].
#[derive(Clone, Debug)]
struct Faults {
    operation: &'static str,
    left: Arc<Mutex<usize>>,
}

impl Faults {
    fn new(operation: &'static str, times: usize) -> Self {
        Faults {
            operation,
            left: Arc::new(Mutex::new(times)),
        }
    }

    fn left(&self) -> usize {
        *lock(&self.left)
    }

    /// Whether this call of the operation gets a fault (and one fewer is left).
    fn take(&self, cfg: &ConfigBag) -> bool {
        let this_operation = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == self.operation);
        let mut left = lock(&self.left);
        if this_operation && *left > 0 {
            *left -= 1;
            return true;
        }
        false
    }
}

/// Fault injection for "the write committed, its answer was lost": the first `times` answers
/// to `operation` (e.g. `"PutItem"`) are replaced by an HTTP 500 after the emulator has
/// carried the request out, so the SDK retries a request that already took effect. Attach it
/// to a client config like [`CallCounter`]; clones share the count.
#[derive(Clone, Debug)]
pub struct LoseAnswers(Faults);

impl LoseAnswers {
    pub fn new(operation: &'static str, times: usize) -> Self {
        LoseAnswers(Faults::new(operation, times))
    }

    /// Answers still to be lost.
    pub fn left(&self) -> usize {
        self.0.left()
    }
}

impl Intercept for LoseAnswers {
    fn name(&self) -> &'static str {
        "sagewatch_emulator::LoseAnswers"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.take(cfg) {
            let response = context.response_mut();
            *response.status_mut() = 500u16.try_into()?;
            *response.body_mut() = aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"InternalServerError","message":"injected: the answer was lost"}"#,
            );
        }
        Ok(())
    }
}

/// Fault injection for "the call failed and nothing happened": the first `times` calls of
/// `operation` fail before they are sent, as a connection failure does (the SDK does not
/// retry it; the caller sees a passing `Unavailable` error).
#[derive(Clone, Debug)]
pub struct FailCalls(Faults);

impl FailCalls {
    pub fn new(operation: &'static str, times: usize) -> Self {
        FailCalls(Faults::new(operation, times))
    }

    /// Failures still to come.
    pub fn left(&self) -> usize {
        self.0.left()
    }
}

impl Intercept for FailCalls {
    fn name(&self) -> &'static str {
        "sagewatch_emulator::FailCalls"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.take(cfg) {
            return Err(format!("injected: {} failed before it was sent", self.0.operation).into());
        }
        Ok(())
    }
}
