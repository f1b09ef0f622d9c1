//! A function's own health counters, written the one way by every function: `InvalidEvents`
//! (input that no retry can fix: logged, counted, nothing done) and `DuplicateEvents` (a
//! delivery whose work was already done), each 1 by [Function], through the [`Sink`].

use crate::emf::function_counter;
use crate::output::Sink;
use crate::redact::redact;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub const INVALID_EVENTS: &str = "InvalidEvents";
pub const DUPLICATE_EVENTS: &str = "DuplicateEvents";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    namespace: String,
    function: &'static str,
}

impl Health {
    pub fn new(namespace: &str, function: &'static str) -> Self {
        Health {
            namespace: namespace.to_owned(),
            function,
        }
    }

    /// Unusable input: an error log and `InvalidEvents` with the reason. The detail can quote
    /// the input (serde messages do), so it is redacted; the redacted text is returned for
    /// the invocation's answer.
    pub fn invalid(
        &self,
        sink: &impl Sink,
        at: DateTime<Utc>,
        reason: &str,
        detail: &str,
        props: &[(&str, Value)],
    ) -> String {
        let detail = redact(detail).into_owned();
        tracing::error!(function = self.function, reason, detail = %detail, "event not processed");
        let mut all = vec![
            ("reason", Value::from(reason)),
            ("detail", Value::from(detail.as_str())),
        ];
        all.extend(props.iter().cloned());
        self.count(sink, at, INVALID_EVENTS, &all);
        detail
    }

    /// A delivery whose work was done before: `DuplicateEvents`.
    pub fn duplicate(&self, sink: &impl Sink, at: DateTime<Utc>, props: &[(&str, Value)]) {
        tracing::info!(function = self.function, "duplicate delivery; nothing done");
        self.count(sink, at, DUPLICATE_EVENTS, props);
    }

    fn count(&self, sink: &impl Sink, at: DateTime<Utc>, metric: &str, props: &[(&str, Value)]) {
        sink.write(function_counter(
            &self.namespace,
            at,
            self.function,
            metric,
            props,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::MemorySink;

    #[test]
    fn counters_are_by_function_and_redacted() {
        let sink = MemorySink::default();
        let h = Health::new("NS", "overfit-guard");
        let detail = h.invalid(
            &sink,
            Utc::now(),
            "invalid_input",
            "bad field password=hunter2",
            &[("record", Value::from(3))],
        );
        assert!(!detail.contains("hunter2"), "{detail}");
        h.duplicate(&sink, Utc::now(), &[]);
        let lines = sink.json();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["InvalidEvents"], 1.0);
        assert_eq!(lines[0]["Function"], "overfit-guard");
        assert_eq!(lines[0]["reason"], "invalid_input");
        assert_eq!(lines[0]["record"], 3);
        assert!(!lines[0].to_string().contains("hunter2"));
        assert_eq!(lines[1]["DuplicateEvents"], 1.0);
        let dims = &lines[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"];
        assert_eq!(dims, &serde_json::json!([["Function"]]));
    }
}
