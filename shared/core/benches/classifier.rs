//! `make bench`: classifier throughput on large synthetic training logs, and memory.
//! Plain `harness = false` timing keeps the dependency list short.
//!
//! Throughput is input bytes (line texts plus one `\n` each) per second of `classify()` on
//! one thread, in MiB/s (2^20 bytes) and MB/s (10^6 bytes; the target is 500 MB/s).
//! Memory: peak RSS of the process, and the classifier's own peak above the input it is given
//! (the kernel's high-water mark is reset before classifying when /proc allows it; the rules
//! are compiled by a warm-up call before that, a one-time cost per process).
//! `SAGEWATCH_BENCH_MB` sets the log size in MiB (default 64).

use sagewatch::classify::{classify, Line};
use std::time::Instant;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets the peak-RSS mark to the current RSS (Linux ≥ 4.0; "5" = clear VmHWM).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn synthetic_log(target_bytes: usize, templates: &[&str], last: &str) -> String {
    let mut text = String::with_capacity(target_bytes + 256);
    let mut i = 0usize;
    while text.len() < target_bytes {
        text.push_str(templates[i % templates.len()]);
        text.push('\n');
        i += 1;
    }
    text.push_str(last);
    text.push('\n');
    text
}

fn run(name: &str, what: &str, text: &str) {
    let lines: Vec<Line<'_>> = text
        .lines()
        .map(|t| Line {
            source: "algo-1",
            timestamp: None,
            text: t,
        })
        .collect();
    let bytes = text.len() as f64;
    let mib = bytes / (1024.0 * 1024.0);

    // Compile the rules first (once per process), so the memory figure is per call.
    let warm_up = Line {
        source: "FailureReason",
        timestamp: None,
        text: "ClientError: NoSuchKey",
    };
    classify(&[warm_up], None);
    let input_kib = status_kib("VmRSS:");
    let isolated = reset_peak();
    let mut times = Vec::new();
    let mut category = None;
    for _ in 0..5 {
        let start = Instant::now();
        let c = classify(&lines, None);
        times.push(start.elapsed().as_secs_f64());
        category = Some(c.category);
    }
    times.sort_by(f64::total_cmp);
    let rate = |s: f64| (mib / s, bytes / 1e6 / s);
    let (best_mib, best_mb) = rate(times[0]);
    let (median_mib, median_mb) = rate(times[2]);
    let (worst_mib, worst_mb) = rate(times[4]);
    println!("classifier [{name}]: {what}");
    println!(
        "  {mib:.0} MiB, {} lines -> {category:?}; 5 runs on one core: best {:.3} s = {best_mib:.0} MiB/s = {best_mb:.0} MB/s, median {median_mib:.0} MiB/s = {median_mb:.0} MB/s, worst {worst_mib:.0} MiB/s = {worst_mb:.0} MB/s",
        lines.len(),
        times[0],
    );
    let index_mib = (lines.len() * std::mem::size_of::<Line<'_>>()) as f64 / (1024.0 * 1024.0);
    if let (Some(peak), Some(before)) = (status_kib("VmHWM:"), input_kib) {
        let kib_to_mib = |kib: u64| kib as f64 / 1024.0;
        let extra = kib_to_mib(peak.saturating_sub(before));
        if isolated {
            println!(
                "  memory: resident before the runs {:.0} MiB (log text {mib_text:.0} MiB + line index {index_mib:.0} MiB + compiled rules); peak during the runs {:.0} MiB: classify() added {extra:.1} MiB",
                kib_to_mib(before),
                kib_to_mib(peak),
                mib_text = mib,
            );
        } else {
            println!(
                "  memory: peak RSS {:.0} MiB (resident before the runs {:.0} MiB: log text {mib_text:.0} MiB + line index {index_mib:.0} MiB + compiled rules)",
                kib_to_mib(peak),
                kib_to_mib(before),
                mib_text = mib,
            );
        }
    }
}

fn main() {
    let target_bytes: usize = std::env::var("SAGEWATCH_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
        << 20;
    let oom = "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 39.59 GiB total capacity)";

    let training = synthetic_log(
        target_bytes,
        &[
            "[2024-06-10 12:00:01.123 algo-1:42 INFO train.py:88] epoch=3 step=1200 train_loss=0.4132 lr=0.00030 throughput=812.4 samples/s",
            "[2024-06-10 12:00:01.456 algo-1:42 INFO data.py:140] loaded shard s3://bucket/data/train/part-00017.parquet (65536 rows)",
            "2024-06-10 12:00:02,001 sagemaker-training-toolkit INFO     Reporting training SUCCESS for step 1200 on host algo-1",
            "NCCL INFO Channel 00/02 :    0   1   2   3   4   5   6   7 via P2P/IPC",
        ],
        oom,
    );
    run(
        "training log",
        "PyTorch-style INFO lines (4 templates, ASCII), CUDA OOM on the last line",
        &training,
    );
    drop(training);

    // The prefilter's hard case: every line holds a word some rule or fact looks for
    // ("error", "exception", "fail", "code", "s3://"), and progress bars are not ASCII.
    let noisy = synthetic_log(
        target_bytes,
        &[
            "[12]#011train-error:0.0812#011validation-error:0.0934",
            "/usr/local/lib/python3.10/site-packages/torch/utils/data.py:554: UserWarning: This DataLoader will create 8 worker processes; failed to set affinity, Exception ignored",
            "Epoch 3:  45%|████▌     | 450/1000 [01:23<01:42,  5.36it/s, loss=0.41]",
            "2024-06-10 12:00:02,001 INFO retrying s3://bucket/data/train/part-00017.parquet after error code 503 (SlowDown)",
        ],
        oom,
    );
    run(
        "error-heavy log",
        "XGBoost/warning/tqdm-style lines, every line holds a prefilter word, 1 in 4 non-ASCII; CUDA OOM on the last line",
        &noisy,
    );
}
