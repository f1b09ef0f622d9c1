//! `make bench`: every function's release binary started the way Lambda starts it — its own
//! process, `AWS_LAMBDA_RUNTIME_API` at a local Runtime API ([`runtime_api`]), its AWS calls
//! through a counting proxy ([`proxy`]) to the emulator — then timed, sized and counted.
//!
//! Per function and event: init (exec → first `/next`) and the cold first event (exec → first
//! response) over `SAGEWATCH_BENCH_COLD` fresh processes (default 20); warm invokes (event
//! written → response read) over `SAGEWATCH_BENCH_WARM` invokes in one process (default 1000),
//! split into time with an AWS call outstanding at the proxy and the rest (our code, the
//! runtime client and the loopback round trip); peak RSS (VmHWM) when the process is idle
//! again after the cold event and after the warm run; AWS calls per delivery. Prints markdown.
//! Then `bench-tls`, `SAGEWATCH_BENCH_COLD` times: the first TLS handshake of a fresh process,
//! which a real cold start's first call pays and the plain-HTTP proxy hides.
//!
//! The binaries are read from `SAGEWATCH_BENCH_BIN_DIR` (default `<repo>/target/release`).

mod http;
mod proxy;
mod runtime_api;

use proxy::{Proxy, Taken};
use runtime_api::{Invocation, Seen};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const WAIT: Duration = Duration::from_secs(60);

/// Where an event comes from.
enum Source {
    File(&'static str),
    /// failure-enricher's worst case: a direct invocation for the 16-host job `seed.py` makes.
    BigJob,
    Inline(&'static str),
}

struct Case {
    label: &'static str,
    source: Source,
}

struct Function {
    name: &'static str,
    /// MemorySize in infra/template.yaml (what Lambda puts in AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
    memory_mb: u32,
    cases: &'static [Case],
}

const fn file(label: &'static str, path: &'static str) -> Case {
    Case {
        label,
        source: Source::File(path),
    }
}

/// Each function's representative events: the usual one, one that needs no AWS call, and its
/// worst case (largest input or most calls) where the samples have one.
const FUNCTIONS: &[Function] = &[
    Function {
        name: "bench-hello",
        memory_mb: 128,
        cases: &[Case {
            label: "echo (baseline)",
            source: Source::Inline(r#"{"hello":"world"}"#),
        }],
    },
    Function {
        name: "bench-hello-ct",
        memory_mb: 128,
        cases: &[Case {
            label: "echo, current-thread tokio",
            source: Source::Inline(r#"{"hello":"world"}"#),
        }],
    },
    Function {
        name: "overfit-guard",
        memory_mb: 128,
        cases: &[
            file("alarm ALARM (stop)", "events/alarm-sns-single-metric.json"),
            file("alarm OK (no call)", "events/alarm-sns-ok.json"),
        ],
    },
    Function {
        name: "event-augmenter",
        memory_mb: 256,
        cases: &[
            file(
                "GPU job completed",
                "events/training-job-state-change-gpu-2-hosts.json",
            ),
            file(
                "SQS batch",
                "events/sqs-batch-training-job-state-change.json",
            ),
            file(
                "Stopping (no call)",
                "events/training-job-state-change-stopping.json",
            ),
            file("CloudTrail API call", "events/cloudtrail-api-call.json"),
        ],
    },
    Function {
        name: "failure-enricher",
        memory_mb: 256,
        cases: &[
            file(
                "job failed, 2 hosts",
                "events/training-job-state-change-failed.json",
            ),
            file("transform failed", "events/transform-job-state-change.json"),
            Case {
                label: "16 hosts, full log budget",
                source: Source::BigJob,
            },
        ],
    },
    Function {
        name: "endpoint-canary",
        memory_mb: 256,
        cases: &[file(
            "2 checks (1 ModelError)",
            "events/endpoint-canary-schedule.json",
        )],
    },
    Function {
        name: "endpoint-guard",
        memory_mb: 128,
        cases: &[
            file(
                "InService, 2 variants",
                "events/endpoint-state-change-in-service-2-variants.json",
            ),
            file("idle check", "events/endpoint-guard-idle-check.json"),
        ],
    },
];

#[derive(Default)]
struct Row {
    function: &'static str,
    case: &'static str,
    init_ms: Vec<f64>,
    cold_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    aws_ms: Vec<f64>,
    ours_ms: Vec<f64>,
    rss_cold_kib: u64,
    rss_warm_kib: u64,
    first_calls: BTreeMap<String, usize>,
    warm_calls: BTreeMap<String, usize>,
    warm_invokes: usize,
    errors: usize,
    log_bytes_per_invoke: u64,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn repo_root() -> PathBuf {
    match std::env::var_os("SAGEWATCH_REPO") {
        Some(r) if !r.is_empty() => PathBuf::from(r),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    }
}

fn fail(msg: String) -> ! {
    eprintln!("sagewatch-bench: {msg}");
    std::process::exit(1)
}

/// Starts `infra/local/emulator.py` (it also exits by itself when we do) and returns its
/// "127.0.0.1:port".
fn start_emulator(repo: &Path, python: &Path) -> (String, Child) {
    let mut child = Command::new(python)
        .arg(repo.join("infra/local/emulator.py"))
        .args(["--host", "127.0.0.1", "--port", "0", "--parent-pid"])
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            fail(format!(
                "cannot start the emulator ({e}); run `make emulator-deps`"
            ))
        });
    let stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| fail("no emulator stdout".into()));
    let mut line = String::new();
    let _ = BufReader::new(stdout).read_line(&mut line);
    let url = line
        .trim()
        .strip_prefix("SAGEWATCH_EMULATOR_READY http://")
        .map(str::to_owned)
        .unwrap_or_else(|| fail(format!("emulator did not start: {line:?}")));
    (url, child)
}

fn seed(repo: &Path, python: &Path, emulator: &str) -> Vec<(String, String)> {
    let out = Command::new(python)
        .arg(repo.join("infra/bench/seed.py"))
        .arg(format!("http://{emulator}"))
        .current_dir(repo)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| fail(format!("seed.py: {e}")));
    if !out.status.success() {
        fail(format!("seed.py failed: {}", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The environment Lambda gives a `provided.al2023` function, plus the application settings
/// of infra/template.yaml that the samples need (as `make demo` sets them).
fn lambda_env(
    f: &Function,
    runtime_api: &str,
    aws_url: &str,
    seeded: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", f.name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", f.name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/12/02/[$LATEST]bench".to_owned(),
        ),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIASAGEWATCHBENCH".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "sagewatch-bench-secret".to_owned()),
        ("AWS_SESSION_TOKEN", "sagewatch-bench-token".to_owned()),
        ("AWS_ENDPOINT_URL", aws_url.to_owned()),
        ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin".to_owned()),
        ("SAGEWATCH_HOME_ACCOUNT", ACCOUNT.to_owned()),
        ("SAGEWATCH_METRICS_NAMESPACE", "SageWatch".to_owned()),
        ("SAGEWATCH_REPORT_TAG_KEYS", "project,team".to_owned()),
        // The alarms in events/ are samples, not alarms in the emulator (as in `make demo`).
        ("SAGEWATCH_CONFIRM_ALARMS", "false".to_owned()),
        ("SAGEWATCH_ALARM_PREFIX", "sagewatch-endpoint-".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(
        seeded
            .iter()
            .filter(|(k, _)| k.starts_with("SAGEWATCH_") && !k.starts_with("SAGEWATCH_BENCH_"))
            .cloned(),
    );
    env
}

/// A child process Lambda-style: its own environment only, stdout/stderr drained (and counted)
/// like the Lambda log pipe.
struct Process {
    child: Child,
    log_bytes: Arc<AtomicU64>,
}

impl Process {
    fn spawn(binary: &Path, env: &[(String, String)]) -> Process {
        let mut child = Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fail(format!("cannot run {}: {e}", binary.display())));
        let log_bytes = Arc::new(AtomicU64::new(0));
        let drain = |r: Option<Box<dyn Read + Send>>, count: Arc<AtomicU64>| {
            if let Some(mut r) = r {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = r.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        count.fetch_add(n as u64, Ordering::Relaxed);
                    }
                });
            }
        };
        drain(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            Arc::clone(&log_bytes),
        );
        drain(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            Arc::clone(&log_bytes),
        );
        Process { child, log_bytes }
    }

    /// VmHWM: the process's peak resident set so far, in KiB.
    fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The driver's side of one process: wait for `/next`, give it an event, collect the answer.
struct Driver<'a> {
    rx: &'a Receiver<Seen>,
    function_arn: String,
    invocations: u64,
    /// A `/next` that arrived while an invoke was still collecting its `Sent` (a fast
    /// function asks again before the connection thread reports the write).
    early_next: Option<(Instant, std::sync::mpsc::SyncSender<Invocation>)>,
}

struct Answer {
    sent: Instant,
    done: Instant,
    error: bool,
}

impl Driver<'_> {
    fn recv(&self, what: &str) -> Seen {
        match self.rx.recv_timeout(WAIT) {
            Ok(seen) => seen,
            Err(RecvTimeoutError::Timeout) => fail(format!("no {what} within {WAIT:?}")),
            Err(RecvTimeoutError::Disconnected) => fail("runtime API stopped".into()),
        }
    }

    /// The next `/next` (an `/init/error` is fatal: the function could not start).
    fn next(&mut self) -> (Instant, std::sync::mpsc::SyncSender<Invocation>) {
        if let Some(early) = self.early_next.take() {
            return early;
        }
        loop {
            match self.recv("GET /next") {
                Seen::Next { at, reply } => return (at, reply),
                Seen::InitError { body } => {
                    fail(format!("init error: {}", String::from_utf8_lossy(&body)))
                }
                _ => {}
            }
        }
    }

    fn invoke(&mut self, reply: &std::sync::mpsc::SyncSender<Invocation>, body: &[u8]) -> Answer {
        self.invocations += 1;
        let id = format!(
            "{:08x}-bench-4000-8000-{:012x}",
            std::process::id(),
            self.invocations
        );
        let inv = Invocation {
            id: id.clone(),
            function_arn: self.function_arn.clone(),
            body: body.to_vec(),
        };
        if reply.send(inv).is_err() {
            fail("the function closed its /next connection".into());
        }
        let (mut sent, mut done) = (None, None);
        let mut error = false;
        while sent.is_none() || done.is_none() {
            match self.recv("response") {
                Seen::Sent { at } => sent = Some(at),
                Seen::Response { at, id: got, .. } if got == id => done = Some(at),
                Seen::Error { at, id: got, body } if got == id => {
                    if std::env::var_os("SAGEWATCH_BENCH_VERBOSE").is_some() {
                        eprintln!("error: {}", String::from_utf8_lossy(&body));
                    }
                    error = true;
                    done = Some(at);
                }
                Seen::InitError { body } => {
                    fail(format!("init error: {}", String::from_utf8_lossy(&body)))
                }
                _ => {}
            }
        }
        let (Some(sent), Some(done)) = (sent, done) else {
            unreachable!("loop ends with both")
        };
        Answer { sent, done, error }
    }
}

fn drain(rx: &Receiver<Seen>) {
    while rx.try_recv().is_ok() {}
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn add_calls(into: &mut BTreeMap<String, usize>, taken: &Taken) {
    for (k, v) in &taken.calls {
        *into.entry(k.clone()).or_default() += v;
    }
}

#[allow(clippy::too_many_arguments)]
fn measure(
    f: &Function,
    case: &Case,
    body: &[u8],
    binary: &Path,
    env: &[(String, String)],
    rx: &Receiver<Seen>,
    proxy: &Proxy,
    cold: usize,
    warm: usize,
) -> Row {
    let mut row = Row {
        function: f.name,
        case: case.label,
        ..Row::default()
    };
    let mut driver = Driver {
        rx,
        function_arn: format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", f.name),
        invocations: 0,
        early_next: None,
    };
    for i in 0..cold {
        drain(rx);
        driver.early_next = None;
        proxy.take();
        let exec = Instant::now();
        let p = Process::spawn(binary, env);
        let (ready, reply) = driver.next();
        let answer = driver.invoke(&reply, body);
        let taken = proxy.take();
        if i == 0 {
            row.first_calls = taken.calls.clone();
        }
        row.init_ms.push(ms(ready - exec));
        row.cold_ms.push(ms(answer.done - exec));
        row.errors += usize::from(answer.error);
        // Idle again (its next /next): the cold event's peak is final.
        let (_, idle) = driver.next();
        row.rss_cold_kib = row.rss_cold_kib.max(p.peak_rss_kib());
        drop(idle);
        drop(reply);
        p.stop();
    }

    drain(rx);
    driver.early_next = None;
    let p = Process::spawn(binary, env);
    let (_, mut reply) = driver.next();
    // One event first: the warm figures are for a process that has served one.
    driver.invoke(&reply, body);
    let logs_before = p.log_bytes.load(Ordering::Relaxed);
    for _ in 0..warm {
        let (_, r) = driver.next();
        reply = r;
        proxy.take();
        let answer = driver.invoke(&reply, body);
        let taken = proxy.take();
        let total = answer.done.saturating_duration_since(answer.sent);
        row.warm_ms.push(ms(total));
        row.aws_ms.push(ms(taken.busy.min(total)));
        row.ours_ms.push(ms(total.saturating_sub(taken.busy)));
        row.errors += usize::from(answer.error);
        add_calls(&mut row.warm_calls, &taken);
    }
    let (_, idle) = driver.next();
    row.rss_warm_kib = p.peak_rss_kib();
    row.warm_invokes = warm;
    row.log_bytes_per_invoke =
        (p.log_bytes.load(Ordering::Relaxed) - logs_before) / warm.max(1) as u64;
    drop(idle);
    drop(reply);
    p.stop();
    row
}

/// Nearest-rank percentile.
fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// The release binary and its Lambda package: `bootstrap` alone in a zip, deflated (what
/// cargo-lambda and `sam build` upload), zipped by the venv's Python zipfile (level 6).
fn sizes(python: &Path, binary: &Path) -> (u64, u64) {
    let raw = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
    let script = "import io, sys, zipfile\n\
                  buf = io.BytesIO()\n\
                  with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:\n\
                  \x20   z.write(sys.argv[1], 'bootstrap')\n\
                  print(len(buf.getvalue()))\n";
    let zipped = Command::new(python)
        .args(["-c", script])
        .arg(binary)
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0);
    (raw, zipped)
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} UTC; {cores} cores ({cpu}); Linux {}; {}; profile: {}",
        command_line("date", &["-u", "+%Y-%m-%d %H:%M"]),
        kernel.trim(),
        command_line("rustc", &["-V"]),
        std::env::var("SAGEWATCH_BENCH_PROFILE").unwrap_or_else(|_| "release".into()),
    )
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn calls_text(calls: &BTreeMap<String, usize>, per: usize) -> String {
    if calls.is_empty() {
        return "none".into();
    }
    calls
        .iter()
        .map(|(op, n)| {
            if per <= 1 {
                format!("{op} {n}")
            } else {
                format!("{op} {:.2}", *n as f64 / per as f64)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let repo = repo_root();
    let cold = env_usize("SAGEWATCH_BENCH_COLD", 20).max(1);
    let warm = env_usize("SAGEWATCH_BENCH_WARM", 1000).max(1);
    let bin_dir = std::env::var_os("SAGEWATCH_BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target/release"));
    let only = std::env::var("SAGEWATCH_BENCH_ONLY").ok();
    let python = repo.join(".tools/venv/bin/python");
    if !python.exists() {
        fail(format!(
            "{} missing: run `make emulator-deps`",
            python.display()
        ));
    }

    let (emulator, mut emulator_process) = start_emulator(&repo, &python);
    eprintln!("emulator on {emulator}; seeding");
    let seeded = seed(&repo, &python, &emulator);
    let big_job = seeded
        .iter()
        .find(|(k, _)| k == "SAGEWATCH_BENCH_BIG_JOB")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let proxy = Proxy::start(emulator).unwrap_or_else(|e| fail(format!("proxy: {e}")));
    let (runtime_api, rx) =
        runtime_api::start().unwrap_or_else(|e| fail(format!("runtime API: {e}")));

    let mut rows = Vec::new();
    let mut packages = Vec::new();
    for f in FUNCTIONS {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == f.name))
        {
            continue;
        }
        let binary = bin_dir.join(f.name);
        if !binary.exists() {
            fail(format!(
                "{} not built (cargo build --release)",
                binary.display()
            ));
        }
        packages.push((f.name, sizes(&python, &binary)));
        let env = lambda_env(f, &runtime_api, &proxy.url, &seeded);
        for case in f.cases {
            let body = match &case.source {
                Source::File(path) => {
                    std::fs::read(repo.join(path)).unwrap_or_else(|e| fail(format!("{path}: {e}")))
                }
                Source::Inline(json) => json.as_bytes().to_vec(),
                Source::BigJob => serde_json::json!({"job_type": "training", "job_name": big_job})
                    .to_string()
                    .into_bytes(),
            };
            // The 16-host job reads 16 log streams per invoke: 1,000 of them against moto
            // would take most of the time budget, and its warm figure is not a hot path.
            let warm = if matches!(case.source, Source::BigJob) {
                warm.min(env_usize("SAGEWATCH_BENCH_WARM_BIG", 100)).max(1)
            } else {
                warm
            };
            eprintln!(
                "{} / {}: {cold} cold starts, {warm} warm invokes",
                f.name, case.label
            );
            let row = measure(f, case, &body, &binary, &env, &rx, &proxy, cold, warm);
            rows.push(row);
        }
    }

    print_report(&rows, &packages, cold, warm);
    if only
        .as_deref()
        .is_none_or(|o| o.split(',').any(|n| n == "bench-tls"))
    {
        print_tls(&bin_dir.join("bench-tls"), cold);
    }
    let _ = emulator_process.kill();
    let _ = emulator_process.wait();
}

/// `bench-tls` in `cold` fresh processes with Lambda's bare environment: root certificates
/// and the first ClientHello (the first randomness), which a real cold start's first call
/// pays and the plain-HTTP proxy hides. Reported, never fatal: the table is already out.
fn print_tls(binary: &Path, cold: usize) {
    let (mut roots_ms, mut hello_ms, mut roots) = (Vec::new(), Vec::new(), 0.0);
    for _ in 0..cold {
        let out = Command::new(binary)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin/:/bin")
            .env("LANG", "en_US.UTF-8")
            .stdin(Stdio::null())
            .output();
        let out = match out {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                eprintln!(
                    "bench-tls failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return;
            }
            Err(e) => {
                eprintln!("cannot run {}: {e}", binary.display());
                return;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |key: &str| {
            text.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse::<f64>().ok())
        };
        match (field("roots_us"), field("first_hello_us"), field("roots")) {
            (Some(r), Some(h), Some(n)) => {
                roots_ms.push(r / 1e3);
                hello_ms.push(h / 1e3);
                roots = n;
            }
            _ => {
                eprintln!("bench-tls printed {text:?}");
                return;
            }
        }
    }
    println!(
        "\nFirst TLS handshake, hidden by the plain-HTTP proxy (`bench-tls`, {cold} fresh processes, \
         median / p90 ms): {roots} root certificates loaded and parsed {:.2} / {:.2}; \
         first ClientHello on aws-lc-rs (the process's first randomness) {:.2} / {:.2}.",
        pct(&roots_ms, 50.0),
        pct(&roots_ms, 90.0),
        pct(&hello_ms, 50.0),
        pct(&hello_ms, 90.0),
    );
}

fn print_report(rows: &[Row], packages: &[(&str, (u64, u64))], cold: usize, warm: usize) {
    println!("### `make bench` — {}\n", machine());
    println!(
        "Times in ms: init = exec → first `/next`, cold = exec → first response ({cold} cold starts: median / p90); \
         warm = event write → response read ({warm} invokes in one process, the 16-host job fewer: p50 / p99), split into \
         AWS = an AWS call outstanding at the proxy (emulator + proxy) and ours = the rest. \
         RSS = VmHWM (MiB) once idle after the cold event / after the warm run. \
         Package = release binary / `bootstrap` zipped (MB).\n"
    );
    println!("| function | event | package MB | init ms | cold 1st event ms | warm ms | warm AWS p50 | warm ours ms | RSS MiB | errors |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut last = "";
    for r in rows {
        let package = if r.function == last {
            String::new()
        } else {
            packages
                .iter()
                .find(|(n, _)| *n == r.function)
                .map(|(_, (raw, zip))| {
                    format!("{:.2} / {:.2}", *raw as f64 / 1e6, *zip as f64 / 1e6)
                })
                .unwrap_or_default()
        };
        last = r.function;
        println!(
            "| {} | {} | {package} | {:.1} / {:.1} | {:.1} / {:.1} | {:.3} / {:.3} | {:.3} | {:.3} / {:.3} | {:.1} / {:.1} | {} |",
            r.function,
            r.case,
            pct(&r.init_ms, 50.0),
            pct(&r.init_ms, 90.0),
            pct(&r.cold_ms, 50.0),
            pct(&r.cold_ms, 90.0),
            pct(&r.warm_ms, 50.0),
            pct(&r.warm_ms, 99.0),
            pct(&r.aws_ms, 50.0),
            pct(&r.ours_ms, 50.0),
            pct(&r.ours_ms, 99.0),
            mib(r.rss_cold_kib),
            mib(r.rss_warm_kib),
            r.errors,
        );
    }
    println!("\nAWS calls per delivery (from the proxy's request log) and log bytes written per warm invoke:\n");
    println!("| function | event | first delivery (cold) | each repeated delivery (warm mean) | log B/invoke |");
    println!("|---|---|---|---|---|");
    for r in rows.iter().filter(|r| !r.function.starts_with("bench-")) {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.function,
            r.case,
            calls_text(&r.first_calls, 1),
            calls_text(&r.warm_calls, r.warm_invokes),
            r.log_bytes_per_invoke,
        );
    }
}
