//! Failure classification: FailureReason + log lines → category, confidence, evidence, facts,
//! hint and a signature that groups the same failure across jobs.
//!
//! The rules' meaning is one leftmost-first search per rule over all lines joined with `\n`
//! (a match counts for the line holding its last byte). Computing it that way costs several
//! regex passes over the whole text; instead one pass (`scan`) finds the lines that hold a
//! literal some pattern requires (`literals`, derived from the patterns themselves), and only
//! those lines meet the regexes. Rules whose matches could span lines fall back to the joined
//! text from the first line where that can happen, so results stay the same.

mod literals;
mod rules;
mod scan;
pub mod signature;

use literals::Literal;
use regex::Regex;
use regex_syntax::hir::Hir;
use rules::RULES;
use scan::{Scanner, Tags};
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

/// A line "looks like an error" (evidence of an `unknown` result) if it holds one of these,
/// ASCII-case-insensitively.
const ERRORISH: [&str; 3] = ["error", "fail", "exception"];

/// Words many rule literals share. Searched for nobody (tag 0): a rule literal that holds one
/// is checked where the word is found instead of being searched itself, so the scan needs
/// fewer Teddy groups (each group is one more pass over every chunk; 32 literals a group).
/// None of them is common in healthy training output.
const HUBS: [&str; 8] = [
    "timed out",
    "timeout",
    "unable to ",
    "cannot ",
    "could not ",
    "invalid ",
    " not ",
    "hyperparameter",
];

// Who a scanned literal is for (`scan::Tags` bits): error-looking lines, each fact, each rule,
// then each rule whose matches can cross lines (for its line-end test).
const TAG_ERRORISH: Tags = 1;
const fn fact_tag(k: usize) -> Tags {
    1 << (1 + k)
}
const FIRST_RULE_TAG: usize = 1 + FACTS_LEN;

/// Bit `bit`, if `Tags` has that many (more rules would need a wider type).
fn tag(bit: usize) -> Option<Tags> {
    (1 as Tags).checked_shl(u32::try_from(bit).ok()?)
}

/// A rule whose matches can run from one line into the next (its pattern can match `\n`).
/// Line by line it is exact until the first line that can start such a match; from there on
/// the rule runs over the joined remaining text, as the original single-text pass did.
struct Crossing {
    rule: usize,
    /// Matches a line that ends in a prefix of a match running on; `None`: use the joined
    /// text from the first line (the rule's anchors tell a line start from a text start).
    line_end: Option<Regex>,
    tag: Tags,
}

struct Compiled {
    each: Vec<Regex>,
    scanner: Scanner,
    /// One bit per rule (the rule tags shifted down by `FIRST_RULE_TAG`).
    rule_tags: Tags,
    /// Tags of patterns without a required literal: every line is a candidate for them.
    always: Tags,
    crossing: Vec<Crossing>,
}

static COMPILED: LazyLock<Option<Compiled>> = LazyLock::new(|| {
    let each = RULES
        .iter()
        .map(|r| Regex::new(r.pattern))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;

    let mut wanted: Vec<(Literal, Tags)> = ERRORISH
        .iter()
        .map(|w| {
            let literal = Literal {
                bytes: w.as_bytes().to_vec(),
                exact: vec![false; w.len()],
            };
            (literal, TAG_ERRORISH)
        })
        .chain(HUBS.iter().map(|w| {
            let literal = Literal {
                bytes: w.as_bytes().to_vec(),
                exact: vec![false; w.len()],
            };
            (literal, 0)
        }))
        .collect();
    let mut always = 0;
    let mut need = |hir: &Hir, tag: Tags| match literals::required(hir) {
        Some(r) => {
            wanted.extend(r.literals.into_iter().map(|l| (l, tag)));
            // A non-ASCII case variant of a (?i) letter makes its line a candidate.
            wanted.extend(r.specials.iter().map(|c| {
                let bytes = c.to_string().into_bytes();
                let exact = vec![true; bytes.len()];
                (Literal { bytes, exact }, tag)
            }));
        }
        None => always |= tag,
    };
    for (k, (re, _)) in FACTS.iter().enumerate() {
        if let Some(re) = re.as_ref() {
            need(&literals::parse(re.as_str())?, fact_tag(k));
        }
    }
    let mut crossing = Vec::new();
    for (rule, r) in RULES.iter().enumerate() {
        let hir = literals::parse(r.pattern)?;
        need(&hir, tag(FIRST_RULE_TAG + rule)?);
        let line_local = literals::line_local(&hir);
        let prefix = literals::crossing_prefix(&hir);
        if line_local && prefix.is_none() {
            continue;
        }
        let tag = tag(FIRST_RULE_TAG + RULES.len() + crossing.len())?;
        let line_end = match prefix.filter(|_| line_local) {
            Some(prefix) => {
                need(&prefix, tag);
                Some(Regex::new(&format!("(?:{prefix})\\z")).ok()?)
            }
            None => None,
        };
        crossing.push(Crossing {
            rule,
            line_end,
            tag,
        });
    }
    Some(Compiled {
        rule_tags: tag(RULES.len())? - 1,
        each,
        scanner: Scanner::new(wanted)?,
        always,
        crossing,
    })
});

/// What the one pass over the lines found.
#[derive(Default)]
struct Found {
    /// (line, rule), sorted: the lines where each rule matches, less its `unless` lines.
    hits: Vec<(usize, usize)>,
    /// Per fact, the first line that yields it.
    facts: [Option<usize>; FACTS_LEN],
    /// The last `MAX_EVIDENCE` lines that look like errors, in order.
    errorish: Vec<usize>,
}

impl Found {
    fn errorish(&mut self, line: usize) {
        if self.errorish.len() == MAX_EVIDENCE {
            self.errorish.remove(0);
        }
        self.errorish.push(line);
    }

    /// Facts and error-looking lines by brute force (only when the rules do not compile).
    fn without_rules(lines: &[Line<'_>]) -> Found {
        let mut found = Found::default();
        for (i, l) in lines.iter().enumerate() {
            let t = l.text.to_ascii_lowercase();
            if ERRORISH.iter().any(|w| t.contains(w)) {
                found.errorish(i);
            }
        }
        for (k, first) in found.facts.iter_mut().enumerate() {
            *first = lines.iter().position(|l| fact(k, l.text).is_some());
        }
        found
    }
}

impl Compiled {
    /// The hits are what one leftmost-first `find_iter` per rule over all lines joined with
    /// `\n` would give (a match counts for the line holding its last byte); only lines holding
    /// a literal the pattern requires are searched, one by one.
    fn find(&self, lines: &[Line<'_>]) -> Found {
        let mut found = Found::default();
        let mut joined_from: Vec<Option<usize>> = self
            .crossing
            .iter()
            .map(|c| c.line_end.is_none().then_some(0))
            .collect();
        self.scanner.scan(lines, self.always, |li, tags| {
            let text = lines[li].text;
            // The scanner checked the literal (case included): the line holds the word.
            if tags & TAG_ERRORISH != 0 {
                found.errorish(li);
            }
            for (k, first) in found.facts.iter_mut().enumerate() {
                if first.is_none() && tags & fact_tag(k) != 0 && fact(k, text).is_some() {
                    *first = Some(li);
                }
            }
            let mut rules = (tags >> FIRST_RULE_TAG) & self.rule_tags;
            while rules != 0 {
                let ri = rules.trailing_zeros() as usize;
                rules &= rules - 1;
                if self.each[ri].is_match(text)
                    && !RULES[ri].unless.iter().any(|u| text.contains(u))
                {
                    found.hits.push((li, ri));
                }
            }
            for (c, from) in self.crossing.iter().zip(joined_from.iter_mut()) {
                if tags & c.tag != 0
                    && from.is_none()
                    && c.line_end.as_ref().is_some_and(|re| re.is_match(text))
                {
                    *from = Some(li);
                }
            }
        });
        for (c, from) in self.crossing.iter().zip(&joined_from) {
            if let Some(from) = *from {
                found.hits.retain(|&(li, ri)| ri != c.rule || li < from);
                self.joined_hits(lines, from, c.rule, &mut found.hits);
            }
        }
        found.hits.sort_unstable();
        found
    }

    /// Hits of one rule over `lines[from..]` joined with `\n`.
    fn joined_hits(
        &self,
        lines: &[Line<'_>],
        from: usize,
        ri: usize,
        hits: &mut Vec<(usize, usize)>,
    ) {
        let lines = &lines[from..];
        let mut all = String::with_capacity(lines.iter().map(|l| l.text.len() + 1).sum());
        let mut line_starts = Vec::with_capacity(lines.len());
        for l in lines {
            line_starts.push(all.len());
            all.push_str(l.text);
            all.push('\n');
        }
        let mut previous = usize::MAX;
        for m in self.each[ri].find_iter(&all) {
            // The line holding the match's last byte.
            let li = line_starts
                .partition_point(|&start| start < m.end())
                .saturating_sub(1);
            if li != previous && !RULES[ri].unless.iter().any(|u| lines[li].text.contains(u)) {
                hits.push((from + li, ri));
            }
            previous = li;
        }
    }
}

static HYPERPARAMETER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"'([A-Za-z_][\w.-]*)' was unexpected|for '([A-Za-z_][\w.-]*)' which (?:is|are) required|Hyperparameter ([A-Za-z_][\w.-]*):|KeyError: '([A-Za-z_][\w.-]*)'|parameter '([A-Za-z_][\w.-]*)'|unrecognized arguments: --?([A-Za-z_][\w.-]*)").ok()
});
static S3_URI: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r#"s3://[^\s"'()<>,]+"#).ok());
static EXIT_CODE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)(?:exit[ _]?code|exitcode)[\s:=]*(\d{1,3})\b").ok());
static INSTANCE_TYPE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\bml\.[a-z0-9]+\.[a-z0-9]+\b").ok());

const FACTS_LEN: usize = 4;
type FactValue = fn(String) -> Option<String>;
/// In `Facts` field order: the regex and what becomes of its first capture.
static FACTS: [(&LazyLock<Option<Regex>>, FactValue); FACTS_LEN] = [
    (&HYPERPARAMETER, Some),
    (&S3_URI, |u| {
        Some(u.trim_end_matches(['.', ';', ':']).to_owned())
    }),
    (&EXIT_CODE, |c| c.parse::<i64>().is_ok().then_some(c)),
    (&INSTANCE_TYPE, Some),
];

fn fact(k: usize, text: &str) -> Option<String> {
    let (re, value) = &FACTS[k];
    first_capture(re, text).and_then(value)
}

/// Classifies one failure. `lines` are in time order (oldest first); FailureReason and
/// ExitMessage lines should come first with those sources.
pub fn classify(lines: &[Line<'_>], instance_type: Option<&str>) -> Classification {
    let Some(compiled) = COMPILED.as_ref() else {
        return unknown(lines, instance_type, &Found::without_rules(lines));
    };
    let found = compiled.find(lines);
    let hits = &found.hits;

    // Score = priority, +5 in FailureReason / ExitMessage; ties go to the later line, then the
    // later rule.
    let best = hits
        .iter()
        .map(|&(li, ri)| {
            let bonus = if is_job_field(lines[li].source) { 5 } else { 0 };
            (RULES[ri].priority as u16 + bonus, li, ri)
        })
        .max();
    let Some((score, decisive, rule_index)) = best else {
        // No rule matched, or every match was on a wrapper line (`unless`): unknown, but show
        // the text.
        return unknown(lines, instance_type, &found);
    };
    let rule = &RULES[rule_index];
    if rule.category == Category::Unknown {
        // The strongest evidence says "no cause given" (e.g. a model container's bare 500).
        return unknown(lines, instance_type, &found);
    }

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
    let facts = extract_facts(lines, &evidence_lines, instance_type, &found);
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
        signature: Some(signature::signature(&crate::redact::redact(&clean(
            lines[decisive].text,
        )))),
        facts,
    }
}

fn is_job_field(source: &str) -> bool {
    source == "FailureReason" || source == "ExitMessage"
}

fn unknown(lines: &[Line<'_>], instance_type: Option<&str>, found: &Found) -> Classification {
    // Show what there is: the job's own fields and the last lines that look like errors.
    let mut picked: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| is_job_field(l.source))
        .map(|(i, _)| i)
        .take(2)
        .collect();
    let errorish: Vec<usize> = found
        .errorish
        .iter()
        .rev()
        .filter(|i| !picked.contains(i))
        .copied()
        .take(MAX_EVIDENCE - picked.len())
        .collect();
    picked.extend(errorish);
    picked.sort_unstable();
    let facts = extract_facts(lines, &picked, instance_type, found);
    let decisive = picked.last().map(|&i| lines[i].text);
    Classification {
        category: Category::Unknown,
        confidence: 0.0,
        evidence: picked.iter().map(|&i| evidence(&lines[i])).collect(),
        hint: "No known failure pattern matched. Read the evidence lines and the job's logs; if this failure recurs, its signature groups the occurrences.".to_owned(),
        signature: decisive.map(|d| signature::signature(&crate::redact::redact(&clean(d)))),
        facts,
    }
}

fn evidence(line: &Line<'_>) -> Evidence {
    Evidence {
        source: line.source.to_owned(),
        timestamp: line.timestamp,
        text: truncate(clean(line.text).trim(), MAX_EVIDENCE_CHARS),
    }
}

/// CloudWatch shows a tab as `#011`; evidence and signatures show (and group by) a space, so
/// the same failure with and without the escape reads and groups the same. Only the few
/// evidence lines are cleaned: the rules' literals never span a tab.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains("#011") || text.contains('\t') {
        std::borrow::Cow::Owned(text.replace("#011", " ").replace('\t', " "))
    } else {
        std::borrow::Cow::Borrowed(text)
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

/// Each fact from the preferred (evidence) lines first, then from the first line that has it.
fn extract_facts(
    lines: &[Line<'_>],
    preferred: &[usize],
    instance_type: Option<&str>,
    found: &Found,
) -> Facts {
    let value = |k: usize| {
        preferred
            .iter()
            .chain(found.facts[k].iter())
            .find_map(|&i| fact(k, lines[i].text))
    };
    Facts {
        hyperparameter: value(0),
        s3_uri: value(1),
        exit_code: value(2).and_then(|c| c.parse().ok()),
        instance_type: instance_type.map(str::to_owned).or_else(|| value(3)),
    }
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
