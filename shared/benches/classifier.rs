//! `make bench`: classifier throughput on a large synthetic training log, and peak memory.
//! Plain `harness = false` timing (best of several runs) keeps the dependency list short.

use sagewatch::classify::{classify, Line};
use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let target_bytes: usize = std::env::var("SAGEWATCH_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
        << 20;
    let templates = [
        "[2024-06-10 12:00:01.123 algo-1:42 INFO train.py:88] epoch=3 step=1200 train_loss=0.4132 lr=0.00030 throughput=812.4 samples/s",
        "[2024-06-10 12:00:01.456 algo-1:42 INFO data.py:140] loaded shard s3://bucket/data/train/part-00017.parquet (65536 rows)",
        "2024-06-10 12:00:02,001 sagemaker-training-toolkit INFO     Reporting training SUCCESS for step 1200 on host algo-1",
        "NCCL INFO Channel 00/02 :    0   1   2   3   4   5   6   7 via P2P/IPC",
    ];
    let mut text = String::with_capacity(target_bytes + 256);
    let mut i = 0usize;
    while text.len() < target_bytes {
        text.push_str(templates[i % templates.len()]);
        text.push('\n');
        i += 1;
    }
    text.push_str("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 39.59 GiB total capacity)\n");
    let lines: Vec<Line<'_>> = text
        .lines()
        .map(|t| Line {
            source: "algo-1",
            timestamp: None,
            text: t,
        })
        .collect();
    let mb = text.len() as f64 / (1024.0 * 1024.0);

    let mut best = f64::INFINITY;
    let mut category = None;
    for _ in 0..5 {
        let start = Instant::now();
        let c = classify(&lines, None);
        best = best.min(start.elapsed().as_secs_f64());
        category = Some(c.category);
    }
    println!(
        "classifier: {mb:.0} MiB, {} lines, best of 5: {:.3} s = {:.0} MiB/s on one core ({:?})",
        lines.len(),
        best,
        mb / best,
        category
    );
    if let Some(kib) = peak_rss_kib() {
        println!(
            "peak RSS {:.0} MiB for a {mb:.0} MiB log (input + line index + one joined copy)",
            kib as f64 / 1024.0
        );
    }
}
