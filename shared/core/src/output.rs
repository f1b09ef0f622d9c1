//! Where EMF and report lines go: stdout in Lambda (CloudWatch Logs turns EMF into metrics and
//! Logs Insights reads the report lines), memory in tests. A port, so tests see exactly what a
//! handler wrote.

use std::sync::Mutex;

/// Where EMF and report lines go: stdout in Lambda (CloudWatch Logs turns EMF into metrics).
pub trait Sink: Send + Sync {
    fn write(&self, lines: Vec<String>);
}

/// Production sink: one write per line on stdout.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn write(&self, lines: Vec<String>) {
        crate::emf::emit_lines(&lines);
    }
}

/// Keeps the lines in memory (tests and local tools).
#[derive(Debug, Default)]
pub struct MemorySink(Mutex<Vec<String>>);

impl MemorySink {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Every line parsed as JSON (lines that are not JSON are skipped).
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn clear(&self) {
        if let Ok(mut l) = self.0.lock() {
            l.clear();
        }
    }
}

impl Sink for MemorySink {
    fn write(&self, lines: Vec<String>) {
        if let Ok(mut l) = self.0.lock() {
            l.extend(lines);
        }
    }
}

impl<T: Sink> Sink for &T {
    fn write(&self, lines: Vec<String>) {
        (**self).write(lines);
    }
}

impl<T: Sink> Sink for std::sync::Arc<T> {
    fn write(&self, lines: Vec<String>) {
        (**self).write(lines);
    }
}
