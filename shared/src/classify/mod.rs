//! Failure classification: FailureReason + log lines → category, confidence, evidence, facts,
//! hint and a signature that groups the same failure across jobs.
//!
//! Matching is one `RegexSet` pass over all text (a single automaton run, so the cost grows with
//! the log size, not with the number of rules); only the rules that matched are then located
//! line by line for evidence.

mod rules;
pub mod signature;

use regex::{Regex, RegexSet};
use rules::RULES;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    OutOfMemory,
    GpuError,
    InvalidHyperparameter,
    DataFormat,
    DataMissingOrAccess,
    Permission,
    ImageError,
    UserCodeError,
    CapacityOrLimit,
    DiskFull,
    Timeout,
    InternalError,
    Unknown,
}

impl Category {
    pub const ALL: [Category; 13] = [
        Category::OutOfMemory,
        Category::GpuError,
        Category::InvalidHyperparameter,
        Category::DataFormat,
        Category::DataMissingOrAccess,
        Category::Permission,
        Category::ImageError,
        Category::UserCodeError,
        Category::CapacityOrLimit,
        Category::DiskFull,
        Category::Timeout,
        Category::InternalError,
        Category::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::OutOfMemory => "out_of_memory",
            Category::GpuError => "gpu_error",
            Category::InvalidHyperparameter => "invalid_hyperparameter",
            Category::DataFormat => "data_format",
            Category::DataMissingOrAccess => "data_missing_or_access",
            Category::Permission => "permission",
            Category::ImageError => "image_error",
            Category::UserCodeError => "user_code_error",
            Category::CapacityOrLimit => "capacity_or_limit",
            Category::DiskFull => "disk_full",
            Category::Timeout => "timeout",
            Category::InternalError => "internal_error",
            Category::Unknown => "unknown",
        }
    }
}

/// One line of input with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line<'a> {
    /// `FailureReason`, `ExitMessage`, or the log stream's host (`algo-1`).
    pub source: &'a str,
    pub timestamp: Option<i64>,
    pub text: &'a str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hyperparameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub category: Category,
    pub confidence: f64,
    pub evidence: Vec<Evidence>,
    pub facts: Facts,
    pub hint: String,
    pub signature: Option<signature::Signature>,
}

/// Lines from a FailureReason (source `FailureReason`) followed by a log excerpt (`log_source`),
/// the input shape of the offline tool and the corpus.
pub fn lines_from_text<'a>(
    failure_reason: Option<&'a str>,
    log: Option<&'a str>,
    log_source: &'a str,
) -> Vec<Line<'a>> {
    let reason = failure_reason.unwrap_or("").lines().map(|text| Line {
        source: "FailureReason",
        timestamp: None,
        text,
    });
    let log = log.unwrap_or("").lines().map(|text| Line {
        source: log_source,
        timestamp: None,
        text,
    });
    reason.chain(log).collect()
}

pub const MAX_EVIDENCE: usize = 5;
/// Evidence lines are cut to this many characters (a 1 MB log line stays 1 MB nowhere).
pub const MAX_EVIDENCE_CHARS: usize = 500;

struct Compiled {
    set: RegexSet,
    each: Vec<Regex>,
}

static COMPILED: LazyLock<Option<Compiled>> = LazyLock::new(|| {
    let patterns: Vec<&str> = RULES.iter().map(|r| r.pattern).collect();
    let set = RegexSet::new(&patterns).ok()?;
    let each = patterns
        .iter()
        .map(|p| Regex::new(p))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Compiled { set, each })
});

static HYPERPARAMETER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"'([A-Za-z_][\w.-]*)' was unexpected|for '([A-Za-z_][\w.-]*)' which (?:is|are) required|Hyperparameter ([A-Za-z_][\w.-]*):|KeyError: '([A-Za-z_][\w.-]*)'|parameter '([A-Za-z_][\w.-]*)'").ok()
});
static S3_URI: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r#"s3://[^\s"'()<>,]+"#).ok());
static EXIT_CODE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)(?:exit[ _]?code|exitcode)[\s:=]*(\d{1,3})\b").ok());
static INSTANCE_TYPE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\bml\.[a-z0-9]+\.[a-z0-9]+\b").ok());

/// Classifies one failure. `lines` are in time order (oldest first); FailureReason and
/// ExitMessage lines should come first with those sources.
pub fn classify(lines: &[Line<'_>], instance_type: Option<&str>) -> Classification {
    let Some(compiled) = COMPILED.as_ref() else {
        return unknown(lines, instance_type);
    };
    // One pass over everything to learn which rules match at all.
    let mut all = String::with_capacity(lines.iter().map(|l| l.text.len() + 1).sum());
    let mut line_starts = Vec::with_capacity(lines.len());
    for l in lines {
        line_starts.push(all.len());
        all.push_str(l.text);
        all.push('\n');
    }
    let matched: Vec<usize> = compiled.set.matches(&all).into_iter().collect();
    if matched.is_empty() {
        return unknown(lines, instance_type);
    }

    // Locate each matched rule in the same joined text (one scan per matched rule, not one
    // per line) and map match offsets to lines. Score = priority, +5 in FailureReason /
    // ExitMessage; ties go to the later line, then the later rule.
    let mut hits: Vec<(usize, usize)> = Vec::new(); // (line, rule)
    for &ri in &matched {
        let rule = &RULES[ri];
        let mut previous = usize::MAX;
        for m in compiled.each[ri].find_iter(&all) {
            // The line holding the match's last byte: `^\s*` may start on a blank line above.
            let li = line_starts
                .partition_point(|&start| start < m.end())
                .saturating_sub(1);
            if li != previous && !rule.unless.iter().any(|u| lines[li].text.contains(u)) {
                hits.push((li, ri));
            }
            previous = li;
        }
    }
    hits.sort_unstable();
    let best = hits
        .iter()
        .map(|&(li, ri)| {
            let bonus = if is_job_field(lines[li].source) { 5 } else { 0 };
            (RULES[ri].priority as u16 + bonus, li, ri)
        })
        .max();
    let Some((score, decisive, rule_index)) = best else {
        // Every match was on a wrapper line (`unless`): unknown, but show the text.
        return unknown(lines, instance_type);
    };
    let rule = &RULES[rule_index];

    let mut evidence_lines: Vec<usize> = vec![decisive];
    for (li, ri) in hits.iter().rev() {
        if evidence_lines.len() >= MAX_EVIDENCE {
            break;
        }
        if RULES[*ri].category == rule.category && !evidence_lines.contains(li) {
            evidence_lines.push(*li);
        }
    }
    evidence_lines.sort_unstable();
    let facts = extract_facts(lines, &evidence_lines, instance_type);
    Classification {
        category: rule.category,
        confidence: match score {
            85.. => 0.95,
            75..=84 => 0.85,
            50..=74 => 0.7,
            _ => 0.5,
        },
        evidence: evidence_lines
            .iter()
            .map(|&i| evidence(&lines[i]))
            .collect(),
        hint: render_hint(rule.hint, &facts),
        signature: Some(signature::signature(&crate::redact::redact(
            lines[decisive].text,
        ))),
        facts,
    }
}

fn is_job_field(source: &str) -> bool {
    source == "FailureReason" || source == "ExitMessage"
}

fn unknown(lines: &[Line<'_>], instance_type: Option<&str>) -> Classification {
    // Show what there is: the job's own fields and the last lines that look like errors.
    let mut picked: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| is_job_field(l.source))
        .map(|(i, _)| i)
        .take(2)
        .collect();
    let errorish: Vec<usize> = lines
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, l)| {
            !picked.contains(i) && {
                let t = l.text.to_ascii_lowercase();
                t.contains("error") || t.contains("fail") || t.contains("exception")
            }
        })
        .map(|(i, _)| i)
        .take(MAX_EVIDENCE - picked.len())
        .collect();
    picked.extend(errorish);
    picked.sort_unstable();
    let facts = extract_facts(lines, &picked, instance_type);
    let decisive = picked.last().map(|&i| lines[i].text);
    Classification {
        category: Category::Unknown,
        confidence: 0.0,
        evidence: picked.iter().map(|&i| evidence(&lines[i])).collect(),
        hint: "No known failure pattern matched. Read the evidence lines and the job's logs; if this failure recurs, its signature groups the occurrences.".to_owned(),
        signature: decisive.map(|d| signature::signature(&crate::redact::redact(d))),
        facts,
    }
}

fn evidence(line: &Line<'_>) -> Evidence {
    Evidence {
        source: line.source.to_owned(),
        timestamp: line.timestamp,
        text: truncate(line.text.trim(), MAX_EVIDENCE_CHARS),
    }
}

pub fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

fn first_capture(re: &Option<Regex>, text: &str) -> Option<String> {
    let caps = re.as_ref()?.captures(text)?;
    caps.iter()
        .skip(1)
        .flatten()
        .next()
        .or_else(|| caps.get(0))
        .map(|m| m.as_str().to_owned())
}

fn extract_facts(lines: &[Line<'_>], preferred: &[usize], instance_type: Option<&str>) -> Facts {
    // Look in the evidence first, then in every line.
    let order = preferred.iter().copied().chain(0..lines.len());
    let mut facts = Facts {
        instance_type: instance_type.map(str::to_owned),
        ..Facts::default()
    };
    for i in order {
        let text = lines[i].text;
        if facts.hyperparameter.is_none() {
            facts.hyperparameter = first_capture(&HYPERPARAMETER, text);
        }
        if facts.s3_uri.is_none() {
            facts.s3_uri = first_capture(&S3_URI, text)
                .map(|u| u.trim_end_matches(['.', ';', ':']).to_owned());
        }
        if facts.exit_code.is_none() {
            facts.exit_code = first_capture(&EXIT_CODE, text).and_then(|c| c.parse().ok());
        }
        if facts.instance_type.is_none() {
            facts.instance_type = first_capture(&INSTANCE_TYPE, text);
        }
    }
    facts
}

fn render_hint(template: &str, facts: &Facts) -> String {
    let instance = facts
        .instance_type
        .as_deref()
        .map(|t| format!(" on {t}"))
        .unwrap_or_default();
    let hp = facts
        .hyperparameter
        .as_deref()
        .map(|h| format!(" ('{h}')"))
        .unwrap_or_default();
    let s3 = facts
        .s3_uri
        .as_deref()
        .map(|u| format!(" ({u})"))
        .unwrap_or_default();
    template
        .replace("{instance}", &instance)
        .replace("{hyperparameter}", &hp)
        .replace("{s3_uri}", &s3)
}

#[cfg(test)]
mod tests;
