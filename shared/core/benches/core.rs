//! `make bench`: the pure core's per-event work, in the harness style of `classifier.rs`
//! (plain timing, `harness = false`, no extra dependencies): event parsing (events/s over the
//! samples in events/), EMF rendering (lines/s) and redaction (MB/s of log text).
//! Each figure is the best of 5 runs on one thread, after a warm-up run that compiles the
//! rules (a once-per-process cost, paid at a function's first event).

use chrono::{TimeZone, Utc};
use sagewatch::emf::{MetricRecord, Unit};
use sagewatch::events::SageMakerEvent;
use sagewatch::redact::redact;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

/// Best of 5 timed runs of `f` (after one warm-up), in seconds.
fn best_of_5(mut f: impl FnMut()) -> f64 {
    f();
    (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn samples() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "json") {
                if let Ok(bytes) = std::fs::read(&path) {
                    out.push((e.file_name().to_string_lossy().into_owned(), bytes));
                }
            }
        }
    }
    out.sort();
    out
}

fn parsing() {
    // The EventBridge envelopes (alarm notifications and direct invocations are other shapes).
    let events: Vec<(String, Vec<u8>)> = samples()
        .into_iter()
        .filter(|(_, b)| SageMakerEvent::from_slice(b).is_ok())
        .collect();
    let bytes: usize = events.iter().map(|(_, b)| b.len()).sum();
    let rounds = 2000;
    let secs = best_of_5(|| {
        for _ in 0..rounds {
            for (_, b) in &events {
                black_box(SageMakerEvent::from_slice(black_box(b)).ok());
            }
        }
    });
    let n = (rounds * events.len()) as f64;
    println!(
        "event parsing: {} EventBridge samples ({} B mean), JSON -> SageMakerEvent: {:.0} events/s ({:.2} µs/event, {:.0} MB/s)",
        events.len(),
        bytes / events.len().max(1),
        n / secs,
        secs / n * 1e6,
        (rounds * bytes) as f64 / 1e6 / secs,
    );
}

fn emf() {
    // A job summary line as event-augmenter writes it: 3 dimension sets, 8 metrics, 4 properties.
    let timestamp = Utc
        .timestamp_opt(1_764_633_600, 0)
        .single()
        .unwrap_or_default();
    let record = || {
        let mut r = MetricRecord::new("SageWatch", timestamp);
        r.dimension("JobType", "training")
            .dimension("InstanceType", "ml.g5.2xlarge")
            .dimension("Account", "123456789012")
            .dimension_set(&["JobType"])
            .dimension_set(&["JobType", "InstanceType"])
            .dimension_set(&["Account"]);
        for (name, value) in [
            ("Jobs", 1.0),
            ("JobsCompleted", 1.0),
            ("BillableSeconds", 3600.0),
            ("InstanceHours", 2.0),
            ("CPUUtilization", 62.5),
            ("GPUUtilization", 90.5),
            ("MemoryUtilization", 48.0),
            ("UnderutilizedHosts", 0.0),
        ] {
            r.metric(name, value, Unit::Count);
        }
        r.property("job_name", "sagewatch-demo-train-1")
            .property("hosts", 2)
            .property("project", "vision")
            .property("team", "ml-platform");
        r
    };
    let rounds = 20_000;
    let mut lines = 0usize;
    let secs = best_of_5(|| {
        lines = 0;
        for _ in 0..rounds {
            if let Ok(rendered) = black_box(record()).render() {
                lines += rendered.lines.len();
            }
        }
    });
    println!(
        "EMF encoding: a job-summary record (3 dimension sets, 8 metrics, 4 properties), built and rendered: {:.0} lines/s ({:.2} µs/line)",
        lines as f64 / secs,
        secs / lines.max(1) as f64 * 1e6,
    );
}

fn redaction() {
    let templates = [
        "[2024-06-10 12:00:01.123 algo-1:42 INFO train.py:88] epoch=3 step=1200 train_loss=0.4132 lr=0.00030",
        "2024-06-10 12:00:02,001 INFO retrying s3://bucket/data/train/part-00017.parquet after error code 503 (SlowDown)",
        "Traceback (most recent call last): File \"train.py\", line 42, in <module>: ValueError: could not convert",
        "export WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567 && python train.py --password=hunter2",
        "botocore.exceptions.ClientError: AccessDenied for AKIAIOSFODNN7EXAMPLE on arn:aws:s3:::bucket/key",
    ];
    // Line by line (how report evidence is redacted) and one 1 MiB block (a log tail at once).
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 1 << 20 {
        text.push_str(templates[i % templates.len()]);
        text.push('\n');
        i += 1;
    }
    let lines: Vec<&str> = text.lines().collect();
    let mb = text.len() as f64 / 1e6;
    let per_line = best_of_5(|| {
        for l in &lines {
            black_box(redact(black_box(l)));
        }
    });
    let block = best_of_5(|| {
        black_box(redact(black_box(&text)));
    });
    println!(
        "redaction: 1 MiB of log text, 1 line in 5 with a secret: line by line {:.0} MB/s ({} lines), as one block {:.0} MB/s",
        mb / per_line,
        lines.len(),
        mb / block,
    );
}

fn main() {
    parsing();
    emf();
    redaction();
}
