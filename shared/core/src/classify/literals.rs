//! What a pattern needs to be true of a line before it is worth running the regex on it,
//! derived from the pattern's syntax tree so that the rule table stays the only source of truth.
//!
//! Everything here over-approximates: a literal set may let through lines the regex then
//! rejects, never the other way round. That is what lets the classifier skip most lines and
//! still report exactly what the regexes report.

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition};
use std::collections::BTreeSet;

/// A literal as the pattern has it: letters from `(?i)` parts are lowercased and match either
/// case, the rest must match exactly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(super) struct Literal {
    pub bytes: Vec<u8>,
    /// Per byte: must match as is (otherwise ASCII-case-insensitively).
    pub exact: Vec<bool>,
}

impl Literal {
    pub fn lowercase(&self) -> Vec<u8> {
        self.bytes.to_ascii_lowercase()
    }

    /// Whether `text` is this literal.
    pub fn matches(&self, text: &[u8]) -> bool {
        text.len() == self.bytes.len()
            && text
                .iter()
                .zip(&self.bytes)
                .zip(&self.exact)
                .all(|((&t, &b), &exact)| {
                    if exact {
                        t == b
                    } else {
                        t.to_ascii_lowercase() == b
                    }
                })
    }

    fn push(&mut self, byte: u8, exact: bool) {
        self.bytes.push(if exact {
            byte
        } else {
            byte.to_ascii_lowercase()
        });
        self.exact.push(exact);
    }
}

/// Literals such that every match of the pattern contains at least one of them, or contains
/// one of `specials`.
#[derive(Debug, Default)]
pub(super) struct Required {
    pub literals: Vec<Literal>,
    /// Non-ASCII characters that case-fold to an ASCII letter (KELVIN SIGN, LONG S): a `(?i)`
    /// literal may match them where the text has no ASCII letter.
    pub specials: BTreeSet<char>,
}

pub(super) fn parse(pattern: &str) -> Option<Hir> {
    // The same defaults as `regex::Regex::new` (Unicode, UTF-8, no flags).
    regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()
}

/// The literals every match contains, or `None` when the pattern requires none (the caller must
/// then look at every line).
pub(super) fn required(hir: &Hir) -> Option<Required> {
    let mut specials = BTreeSet::new();
    let literals = required_in(hir, &mut specials)?;
    Some(Required { literals, specials })
}

fn required_in(hir: &Hir, specials: &mut BTreeSet<char>) -> Option<Vec<Literal>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Literal(_) | HirKind::Class(_) => {
            let mut run = Literal::default();
            push_literal(hir, &mut run, specials)?;
            longest_piece(run)
        }
        HirKind::Capture(c) => required_in(&c.sub, specials),
        HirKind::Repetition(r) if r.min >= 1 => required_in(&r.sub, specials),
        HirKind::Repetition(_) => None,
        HirKind::Alternation(alts) => {
            let mut union = Vec::new();
            for alt in alts {
                union.extend(required_in(alt, specials)?);
            }
            union.sort();
            union.dedup();
            Some(union)
        }
        HirKind::Concat(items) => {
            // Adjacent literal pieces form one longer literal; any other item may require
            // literals of its own. Keep the most selective candidate.
            let mut candidates: Vec<Vec<Literal>> = Vec::new();
            let mut run = Literal::default();
            for item in items {
                if push_literal(item, &mut run, specials).is_none() {
                    candidates.extend(longest_piece(std::mem::take(&mut run)));
                    // Specials of every candidate count (over-approximation), whichever wins.
                    candidates.extend(required_in(item, specials));
                }
            }
            candidates.extend(longest_piece(run));
            // Longest shortest literal, then fewest literals, then the first in the pattern.
            let n = candidates.len();
            candidates
                .into_iter()
                .enumerate()
                .max_by_key(|(i, set)| {
                    let shortest = set.iter().map(|l| l.bytes.len()).min().unwrap_or(0);
                    (shortest, std::cmp::Reverse(set.len()), n - i)
                })
                .map(|(_, set)| set)
        }
    }
}

/// Appends `hir` to a literal run if it is one fixed character, up to ASCII case.
fn push_literal(hir: &Hir, run: &mut Literal, specials: &mut BTreeSet<char>) -> Option<()> {
    match hir.kind() {
        HirKind::Literal(lit) => {
            lit.0.iter().for_each(|&b| run.push(b, true));
            Some(())
        }
        HirKind::Class(Class::Unicode(class)) => {
            let chars: Vec<char> = class
                .ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .take(5)
                .collect();
            if chars.len() > 4 {
                return None;
            }
            let ascii: Vec<u8> = chars
                .iter()
                .filter(|c| c.is_ascii())
                .map(|&c| c as u8)
                .collect();
            let (byte, exact) = one_ascii_char(&ascii)?;
            specials.extend(chars.iter().filter(|c| !c.is_ascii()));
            run.push(byte, exact);
            Some(())
        }
        HirKind::Class(Class::Bytes(class)) => {
            let bytes: Vec<u8> = class
                .ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .take(3)
                .collect();
            if !bytes.is_ascii() {
                return None;
            }
            let (byte, exact) = one_ascii_char(&bytes)?;
            run.push(byte, exact);
            Some(())
        }
        _ => None,
    }
}

/// `[x]` is `x` exactly, `[Xx]` is `x` in either case; anything else is no fixed character.
fn one_ascii_char(set: &[u8]) -> Option<(u8, bool)> {
    match *set {
        [b] => Some((b, true)),
        [a, b] if a != b && a.eq_ignore_ascii_case(&b) => Some((a, false)),
        _ => None,
    }
}

/// A run may hold a `\n` (a literal newline in the pattern); the scanner never sees one inside a
/// line, so keep the longest newline-free piece.
fn longest_piece(run: Literal) -> Option<Vec<Literal>> {
    let mut best = 0..0;
    let mut start = 0;
    for (i, &b) in run.bytes.iter().chain(b"\n").enumerate() {
        if b == b'\n' {
            if i - start > best.len() {
                best = start..i;
            }
            start = i + 1;
        }
    }
    (!best.is_empty()).then(|| {
        vec![Literal {
            bytes: run.bytes[best.clone()].to_vec(),
            exact: run.exact[best].to_vec(),
        }]
    })
}

/// Whether a match inside one line is found the same in that line alone as in the joined text:
/// not if `\A`, `\z` or CRLF-mode anchors tell a line start from a text start, or if the pattern
/// can match the empty string.
pub(super) fn line_local(hir: &Hir) -> bool {
    let looks = hir.properties().look_set();
    !(looks.contains(Look::Start)
        || looks.contains(Look::End)
        || looks.contains(Look::StartCRLF)
        || looks.contains(Look::EndCRLF))
        && hir.properties().minimum_len().is_some_and(|n| n > 0)
}

/// The prefixes of matches that run into a following line: every string `s` such that
/// `s` + `\n` begins a match. `None` when no match can contain a newline. A leading `(?m)^\s*`
/// is exempt when what follows cannot start with white space: such a match ends where the match
/// starting on its last line ends, so it finds the same line.
pub(super) fn crossing_prefix(hir: &Hir) -> Option<Hir> {
    prefix_before_newline(&without_leading_blank_lines(hir))
}

fn without_leading_blank_lines(hir: &Hir) -> Hir {
    let HirKind::Concat(items) = hir.kind() else {
        return hir.clone();
    };
    let [first, second, rest @ ..] = &items[..] else {
        return hir.clone();
    };
    let (HirKind::Look(Look::StartLF), HirKind::Repetition(rep)) = (first.kind(), second.kind())
    else {
        return hir.clone();
    };
    let HirKind::Class(Class::Unicode(space)) = rep.sub.kind() else {
        return hir.clone();
    };
    let rest = Hir::concat(rest.to_vec());
    let forced_split = rep.min == 0
        && rep.max.is_none()
        && rest.properties().minimum_len().is_some_and(|n| n > 0)
        && first_chars(&rest).is_some_and(|mut starts| {
            starts.intersect(space);
            starts.iter().next().is_none()
        });
    if !forced_split {
        return hir.clone();
    }
    let mut no_newline = space.clone();
    no_newline.difference(&ClassUnicode::new([ClassUnicodeRange::new('\n', '\n')]));
    let mut items = items.clone();
    items[1] = Hir::repetition(Repetition {
        sub: Box::new(Hir::class(Class::Unicode(no_newline))),
        ..rep.clone()
    });
    Hir::concat(items)
}

/// Characters a match can start with (`None`: unknown, e.g. a byte class).
fn first_chars(hir: &Hir) -> Option<ClassUnicode> {
    let nullable = |h: &Hir| h.properties().minimum_len() == Some(0);
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(ClassUnicode::empty()),
        HirKind::Literal(lit) => {
            let c = std::str::from_utf8(&lit.0).ok()?.chars().next()?;
            Some(ClassUnicode::new([ClassUnicodeRange::new(c, c)]))
        }
        HirKind::Class(Class::Unicode(c)) => Some(c.clone()),
        HirKind::Class(Class::Bytes(_)) => None,
        HirKind::Repetition(r) => first_chars(&r.sub),
        HirKind::Capture(c) => first_chars(&c.sub),
        HirKind::Alternation(alts) => {
            let mut all = ClassUnicode::empty();
            for alt in alts {
                all.union(&first_chars(alt)?);
            }
            Some(all)
        }
        HirKind::Concat(items) => {
            let mut all = ClassUnicode::empty();
            for item in items {
                all.union(&first_chars(item)?);
                if !nullable(item) {
                    break;
                }
            }
            Some(all)
        }
    }
}

fn prefix_before_newline(hir: &Hir) -> Option<Hir> {
    let alternatives: Vec<Hir> = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => vec![],
        HirKind::Literal(lit) => lit
            .0
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| Hir::literal(lit.0[..i].to_vec()))
            .collect(),
        HirKind::Class(class) => {
            let newline = match class {
                Class::Unicode(c) => c
                    .ranges()
                    .iter()
                    .any(|r| r.start() <= '\n' && '\n' <= r.end()),
                Class::Bytes(c) => c
                    .ranges()
                    .iter()
                    .any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
            };
            if newline {
                vec![Hir::empty()]
            } else {
                vec![]
            }
        }
        HirKind::Capture(c) => return prefix_before_newline(&c.sub),
        HirKind::Repetition(r) => match (prefix_before_newline(&r.sub), r.max) {
            (_, Some(0)) | (None, _) => vec![],
            // Some whole repetitions, then the one that holds the newline.
            (Some(p), max) => vec![Hir::concat(vec![
                Hir::repetition(Repetition {
                    min: 0,
                    max: max.map(|m| m - 1),
                    ..r.clone()
                }),
                p,
            ])],
        },
        HirKind::Alternation(alts) => alts.iter().filter_map(prefix_before_newline).collect(),
        HirKind::Concat(items) => items
            .iter()
            .enumerate()
            .filter_map(|(j, item)| {
                let p = prefix_before_newline(item)?;
                let mut seq = items[..j].to_vec();
                seq.push(p);
                Some(Hir::concat(seq))
            })
            .collect(),
    };
    (!alternatives.is_empty()).then(|| Hir::alternation(alternatives))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(p: &str) -> Vec<String> {
        required(&parse(p).unwrap())
            .map(|r| {
                r.literals
                    .iter()
                    .map(|l| String::from_utf8_lossy(&l.bytes).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn literal_sets() {
        assert_eq!(
            lits(r"(?i)no space left|\bENOSPC\b"),
            ["enospc", "no space left"]
        );
        assert_eq!(
            lits(r"cannot copy sequence with size \d+ to"),
            ["cannot copy sequence with size "]
        );
        assert_eq!(lits(r"(?i)exit ?code:? ?137\b"), ["exit"]);
        assert!(lits(r"\w+|foo").is_empty());
        assert!(lits(r"(?:foo)?\d").is_empty());
        assert_eq!(lits(r"(?:foo)?bar?"), ["ba"]);
        assert_eq!(lits(r"a\nbcd"), ["bcd"]);
    }

    #[test]
    fn case_sensitive_parts_must_match_exactly() {
        let r = required(&parse(r"Foo(?i:Bar)-[x]").unwrap()).unwrap();
        let l = &r.literals[0];
        assert_eq!(l.bytes, b"Foobar-x");
        assert!(l.matches(b"FooBAR-x") && l.matches(b"Foobar-x"));
        assert!(!l.matches(b"fooBar-x") && !l.matches(b"FooBar-X") && !l.matches(b"FooBar-"));
    }

    #[test]
    fn case_insensitive_literals_note_the_non_ascii_case_variants() {
        let r = required(&parse(r"(?i)NoSuchKey").unwrap()).unwrap();
        assert_eq!(r.literals[0].bytes, b"nosuchkey");
        assert!(r.literals[0].exact.iter().all(|e| !e));
        assert_eq!(r.specials, BTreeSet::from(['\u{17F}', '\u{212A}']));
        // Every ASCII letter's case class has no other non-ASCII member.
        for c in 'a'..='z' {
            let r = required(&parse(&format!("(?i){c}")).unwrap()).unwrap();
            assert!(r
                .specials
                .iter()
                .all(|s| ['\u{17F}', '\u{212A}'].contains(s)));
        }
    }

    #[test]
    fn crossing_prefixes() {
        let hir = |p| parse(p).unwrap();
        assert!(crossing_prefix(&hir(r"(?i)no space\b|disk")).is_none());
        assert!(crossing_prefix(&hir(r"a.*b")).is_none());
        let p = crossing_prefix(&hir(r"\('[^']+' was")).unwrap().to_string();
        let re = regex::Regex::new(&format!("(?:{p})\\z")).unwrap();
        assert!(re.is_match("x ('abc"));
        assert!(!re.is_match("x ('abc' was"));
        // A leading blank-line run does not cross when the rest cannot start with a space...
        assert!(crossing_prefix(&hir(r"(?m)^\s*[A-Z]\w*Error:")).is_none());
        // ...but does when it can, or when it must consume at least one space.
        assert!(crossing_prefix(&hir(r"(?m)^\s*\s?Error:")).is_some());
        assert!(crossing_prefix(&hir(r"(?m)^\s+Error:")).is_some());
        let p = crossing_prefix(&hir(r"(?m)^\s*[A-Z]\w*Error(?::|,\s*exit code)"))
            .unwrap()
            .to_string();
        let re = regex::Regex::new(&format!("(?:{p})\\z")).unwrap();
        assert!(re.is_match("  ValueError,  "));
        assert!(!re.is_match("ValueError: x"));
        assert!(!re.is_match("   "));
    }

    #[test]
    fn anchors() {
        assert!(line_local(&parse(r"(?m)^\s*x\b").unwrap()));
        assert!(!line_local(&parse(r"^x").unwrap()));
        assert!(!line_local(&parse(r"x?").unwrap()));
    }
}
