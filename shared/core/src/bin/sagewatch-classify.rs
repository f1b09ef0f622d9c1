//! `sagewatch-classify`: offline triage. Reads JSON Lines `{"failure_reason": …, "log_excerpt": …}`
//! (either may be null) on stdin and writes one JSON line per input with `category`,
//! `confidence`, `evidence`, `hint`, `signature` and `facts`. Secrets are redacted from the
//! output. A line that is not valid JSON gets `{"line": n, "error": "…"}` and the run goes on.

use sagewatch::classify::{classify, lines_from_text};
use sagewatch::redact::redact;
use serde::Deserialize;
use serde_json::json;
use std::io::{self, BufRead, BufWriter, Write};

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    failure_reason: Option<String>,
    #[serde(default)]
    log_excerpt: Option<String>,
    #[serde(default)]
    instance_type: Option<String>,
}

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut reader = stdin.lock();
    let mut raw = Vec::new();
    let mut n = 0usize;
    loop {
        raw.clear();
        // Bytes, not `lines()`: a non-UTF-8 line is replaced lossily instead of ending the run.
        if reader.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        n += 1;
        let text = String::from_utf8_lossy(&raw);
        if text.trim().is_empty() {
            continue;
        }
        let result = match serde_json::from_str::<Input>(&text) {
            Err(e) => {
                json!({"line": n, "error": format!("not a JSON object with failure_reason/log_excerpt: {e}")})
            }
            Ok(input) => {
                let lines = lines_from_text(
                    input.failure_reason.as_deref(),
                    input.log_excerpt.as_deref(),
                    "log",
                );
                let mut c = classify(&lines, input.instance_type.as_deref());
                for e in &mut c.evidence {
                    e.text = redact(&e.text).into_owned();
                }
                json!({
                    "category": c.category,
                    "confidence": c.confidence,
                    "evidence": c.evidence,
                    "hint": c.hint,
                    "signature": c.signature,
                    "facts": c.facts,
                })
            }
        };
        writeln!(out, "{result}")?;
    }
    out.flush()
}
