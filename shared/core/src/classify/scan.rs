//! One pass over all lines that finds the few lines worth a regex: those holding a literal
//! some pattern requires (see `literals`). Lines are copied ASCII-lowercased into a small
//! reusable buffer, so case-sensitive SIMD multi-literal search ("Teddy" in `aho-corasick`)
//! serves case-insensitive patterns too, and memory stays at one chunk whatever the log size.

use super::literals::Literal;
use super::Line;
use aho_corasick::{packed, AhoCorasick, Input, MatchKind, Span};

/// Bit set of who asked for a literal (rules, each fact, …); the meaning is the caller's.
pub(super) type Tags = u128;

/// Lines are searched in chunks of about this many bytes (a longer line in windows of it).
const CHUNK: usize = 64 * 1024;
/// Teddy is fastest with at most 32 literals ("slim"); more go to further groups, each one
/// more pass over the (cache-hot) chunk.
const GROUP: usize = 32;

pub(super) struct Scanner {
    groups: Vec<Group>,
    /// Longest searched literal.
    longest: usize,
}

struct Group {
    finder: Finder,
    /// Per searched literal, the wanted literals that hold it.
    entries: Vec<Held>,
    /// Literals with non-ASCII bytes: skipped for chunks that are all ASCII.
    non_ascii: bool,
}

/// The wanted literals holding one searched literal, bucketed by the byte next to it that
/// tells them apart: a hit then checks only the few whose neighbouring byte is there (a word
/// like "error" is held by dozens of literals and found on most lines of a noisy log).
struct Held {
    /// Length of the searched literal.
    len: usize,
    /// Entries without a probe byte (the searched literal itself, as is or with its case).
    plain: Vec<Entry>,
    /// Entries by the lowercased byte just before the searched literal (`offset > 0`).
    before: Vec<(u8, Vec<Entry>)>,
    /// Entries by the lowercased byte just after it (`offset == 0`, longer literals).
    after: Vec<(u8, Vec<Entry>)>,
}

impl Held {
    fn new(len: usize, entries: Vec<Entry>) -> Held {
        let mut held = Held {
            len,
            plain: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
        };
        for e in entries {
            let Some((_, byte)) = e.probe else {
                held.plain.push(e);
                continue;
            };
            let side = if e.offset > 0 {
                &mut held.before
            } else {
                &mut held.after
            };
            match side.iter_mut().find(|(b, _)| *b == byte) {
                Some((_, bucket)) => bucket.push(e),
                None => side.push((byte, vec![e])),
            }
        }
        held
    }
}

/// A wanted literal holding a searched one at `offset`: a hit is checked against the original
/// line (exact case where the pattern is case-sensitive) before its tags count.
struct Entry {
    offset: usize,
    literal: Literal,
    tags: Tags,
    /// A byte of the literal outside the searched one, lowercased, and its index.
    probe: Option<(usize, u8)>,
}

enum Finder {
    Teddy(packed::Searcher),
    /// Where Teddy is unavailable (no SIMD).
    Automaton(AhoCorasick),
    /// The few non-ASCII literals (case variants such as KELVIN SIGN): one substring search
    /// each, which skips on rare byte pairs rather than on UTF-8 lead bytes that progress bars
    /// are full of.
    Each(Vec<memchr::memmem::Finder<'static>>),
}

impl Finder {
    fn new(literals: &[&[u8]], non_ascii: bool) -> Option<Finder> {
        if non_ascii {
            let each = literals
                .iter()
                .map(|l| memchr::memmem::Finder::new(l).into_owned());
            return Some(Finder::Each(each.collect()));
        }
        match packed::Config::new().builder().extend(literals).build() {
            Some(t) => Some(Finder::Teddy(t)),
            None => AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(literals)
                .ok()
                .map(Finder::Automaton),
        }
    }

    /// The leftmost literal starting at or after `at`: (start, literal index).
    fn find(&self, haystack: &[u8], at: usize) -> Option<(usize, usize)> {
        let m = match self {
            Finder::Teddy(s) => s.find_in(haystack, Span::from(at..haystack.len()))?,
            Finder::Automaton(a) => a.find(Input::new(haystack).span(at..haystack.len()))?,
            Finder::Each(each) => {
                return each
                    .iter()
                    .enumerate()
                    .filter_map(|(k, f)| Some((at + f.find(haystack.get(at..)?)?, k)))
                    .min();
            }
        };
        Some((m.start(), m.pattern().as_usize()))
    }
}

impl Group {
    /// Tags of the wanted literals around a hit of searched literal `k` at `at` in `text`.
    fn verify(&self, k: usize, text: &[u8], at: usize, mut tags: Tags) -> Tags {
        let held = &self.entries[k];
        tags = check(&held.plain, text, at, tags);
        if let Some(b) = at.checked_sub(1).and_then(|i| text.get(i)) {
            let b = b.to_ascii_lowercase();
            if let Some((_, bucket)) = held.before.iter().find(|(p, _)| *p == b) {
                tags = check(bucket, text, at, tags);
            }
        }
        if let Some(b) = text.get(at + held.len) {
            let b = b.to_ascii_lowercase();
            if let Some((_, bucket)) = held.after.iter().find(|(p, _)| *p == b) {
                tags = check(bucket, text, at, tags);
            }
        }
        tags
    }
}

/// Tags of `entries` that hold the searched literal found at `at` in `text`.
fn check(entries: &[Entry], text: &[u8], at: usize, mut tags: Tags) -> Tags {
    for e in entries {
        if e.tags & !tags == 0 || at < e.offset {
            continue;
        }
        let start = at - e.offset;
        let Some(t) = text.get(start..start + e.literal.bytes.len()) else {
            continue;
        };
        if e.literal.matches(t) {
            tags |= e.tags;
        }
    }
    tags
}

impl Scanner {
    /// `wanted`: (literal, tags). Only literals that hold no other one are searched, lowercased;
    /// the others are checked where the one they hold is found. With no searched literal a
    /// prefix of another, restarting one byte after each hit finds every occurrence.
    pub(super) fn new(mut wanted: Vec<(Literal, Tags)>) -> Option<Scanner> {
        wanted.sort_by_key(|(l, _)| (l.bytes.len(), l.lowercase()));
        let mut kept: Vec<(Vec<u8>, Vec<Entry>)> = Vec::new();
        for (literal, tags) in wanted {
            let lower = literal.lowercase();
            if lower.is_empty() {
                return None;
            }
            let held = kept.iter_mut().find_map(|(k, entries)| {
                Some((memchr::memmem::find(&lower, k)?, k.len(), entries))
            });
            let (offset, searched, entries) = match held {
                Some(found) => found,
                None => {
                    kept.push((lower.clone(), Vec::new()));
                    let last = kept.last_mut()?;
                    (0, lower.len(), &mut last.1)
                }
            };
            match entries
                .iter_mut()
                .find(|e| e.offset == offset && e.literal == literal)
            {
                Some(e) => e.tags |= tags,
                None => {
                    let probe = if offset > 0 {
                        Some(offset - 1)
                    } else {
                        Some(searched).filter(|&i| i < lower.len())
                    };
                    entries.push(Entry {
                        offset,
                        probe: probe.map(|i| (i, lower[i])),
                        literal,
                        tags,
                    })
                }
            }
        }
        let longest = kept.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        // In length order, so literals of similar length share a group.
        let (non_ascii, ascii): (Vec<_>, Vec<_>) =
            kept.into_iter().partition(|(l, _)| !l.is_ascii());
        let mut groups = Vec::new();
        let mut add = |chunk: Vec<(Vec<u8>, Vec<Entry>)>, non_ascii: bool| -> Option<()> {
            let literals: Vec<&[u8]> = chunk.iter().map(|(l, _)| &l[..]).collect();
            let finder = Finder::new(&literals, non_ascii)?;
            groups.push(Group {
                finder,
                entries: chunk
                    .into_iter()
                    .map(|(l, e)| Held::new(l.len(), e))
                    .collect(),
                non_ascii,
            });
            Some(())
        };
        // Teddy compares as many leading bytes as its group's shortest literal has (up to 4):
        // the few shorter literals get a group of their own.
        let (short, long): (Vec<_>, Vec<_>) = ascii.into_iter().partition(|(l, _)| l.len() < 4);
        if !short.is_empty() {
            add(short, false)?;
        }
        let mut long = long.into_iter().peekable();
        while long.peek().is_some() {
            add(long.by_ref().take(GROUP).collect(), false)?;
        }
        if !non_ascii.is_empty() {
            add(non_ascii, true)?;
        }
        Some(Scanner { groups, longest })
    }

    #[cfg(test)]
    pub(super) fn literal_count(&self) -> usize {
        self.groups.iter().map(|g| g.entries.len()).sum()
    }

    /// Calls `each(line index, tags)` in line order for every line holding a wanted literal,
    /// with the union of their tags (`always` added to every line).
    pub(super) fn scan(&self, lines: &[Line<'_>], always: Tags, mut each: impl FnMut(usize, Tags)) {
        let mut chunk = Chunk {
            buf: Vec::with_capacity(CHUNK + self.longest),
            ends: Vec::with_capacity(CHUNK / 32),
            tags: Vec::with_capacity(CHUNK / 32),
            first: 0,
        };
        for (i, line) in lines.iter().enumerate() {
            let text = line.text.as_bytes();
            if text.len() > CHUNK {
                self.flush(lines, &mut chunk, always, &mut each);
                let tags = self.long_line(text, &mut chunk.buf) | always;
                if tags != 0 {
                    each(i, tags);
                }
                chunk.first = i + 1;
                continue;
            }
            if chunk.buf.len() + text.len() >= CHUNK {
                self.flush(lines, &mut chunk, always, &mut each);
                chunk.first = i;
            }
            push_lowercase(&mut chunk.buf, text);
            chunk.ends.push(chunk.buf.len());
            chunk.buf.push(b'\n');
        }
        self.flush(lines, &mut chunk, always, &mut each);
    }

    fn flush(
        &self,
        lines: &[Line<'_>],
        chunk: &mut Chunk,
        always: Tags,
        each: &mut impl FnMut(usize, Tags),
    ) {
        let Chunk {
            buf,
            ends,
            tags,
            first,
        } = chunk;
        tags.clear();
        tags.resize(ends.len(), always);
        let ascii = buf.is_ascii();
        for group in self.groups.iter().filter(|g| searched(g, ascii)) {
            let mut line = 0; // index into `ends`
            let mut at = 0;
            while let Some((hit, k)) = group.finder.find(buf, at) {
                // A literal never holds `\n`, so the hit lies inside one line.
                while ends[line] <= hit {
                    line += 1;
                }
                let start = if line == 0 { 0 } else { ends[line - 1] + 1 };
                let text = lines[*first + line].text.as_bytes();
                tags[line] = group.verify(k, text, hit - start, tags[line]);
                at = hit + 1;
            }
        }
        for (line, &t) in tags.iter().enumerate() {
            if t != 0 {
                each(*first + line, t);
            }
        }
        buf.clear();
        ends.clear();
    }

    /// Tags of one line too long for a chunk, searched in overlapping windows.
    fn long_line(&self, text: &[u8], buf: &mut Vec<u8>) -> Tags {
        let mut tags = 0;
        let mut window = 0;
        while window < text.len() {
            let end = (window + CHUNK + self.longest).min(text.len());
            buf.clear();
            push_lowercase(buf, &text[window..end]);
            let ascii = buf.is_ascii();
            for group in self.groups.iter().filter(|g| searched(g, ascii)) {
                let mut at = 0;
                while let Some((hit, k)) = group.finder.find(buf, at) {
                    tags = group.verify(k, text, window + hit, tags);
                    at = hit + 1;
                }
            }
            window += CHUNK;
        }
        buf.clear();
        tags
    }
}

struct Chunk {
    buf: Vec<u8>,
    /// End offset in `buf` of each line (where its `\n` is), and the tags found in it.
    ends: Vec<usize>,
    tags: Vec<Tags>,
    /// Index of the chunk's first line.
    first: usize,
}

/// Whether to search `group` in a chunk (`ascii`: the chunk has no non-ASCII byte).
fn searched(group: &Group, ascii: bool) -> bool {
    !(ascii && group.non_ascii)
}

fn push_lowercase(buf: &mut Vec<u8>, text: &[u8]) {
    buf.extend(text.iter().map(u8::to_ascii_lowercase));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Line<'_> {
        Line {
            source: "algo-1",
            timestamp: None,
            text,
        }
    }

    fn literal(text: &str, case_sensitive: bool) -> Literal {
        let mut l = Literal::default();
        for b in text.bytes() {
            l.bytes.push(if case_sensitive {
                b
            } else {
                b.to_ascii_lowercase()
            });
            l.exact.push(case_sensitive);
        }
        l
    }

    fn tagged(scanner: &Scanner, lines: &[Line<'_>], always: Tags) -> Vec<(usize, Tags)> {
        let mut out = Vec::new();
        scanner.scan(lines, always, |i, t| out.push((i, t)));
        out
    }

    #[test]
    fn finds_every_literal_with_its_case_and_overlapping_ones() {
        let scanner = Scanner::new(vec![
            (literal("cuda error", false), 1),
            (literal("Error", true), 2),
            (literal("or: 13", false), 4),
            (literal("s3://", false), 8),
            (literal("error", false), 16),
        ])
        .unwrap();
        assert_eq!(scanner.literal_count(), 3);
        let lines = [
            line("nothing here"),
            line("CUDA ERROR: 137"),
            line("xx s3://b/k and Error"),
            line(""),
            line("S3://"),
            line("cuda Error"),
        ];
        assert_eq!(
            tagged(&scanner, &lines, 0),
            [(1, 1 | 4 | 16), (2, 8 | 2 | 16), (4, 8), (5, 1 | 2 | 16)]
        );
        assert_eq!(tagged(&scanner, &lines, 32).len(), lines.len());
    }

    #[test]
    fn overlapping_occurrences_are_all_found() {
        let scanner = Scanner::new(vec![
            (literal("aab", false), 1),
            (literal("abc", false), 2),
            (literal("bcd", false), 4),
        ])
        .unwrap();
        assert_eq!(tagged(&scanner, &[line("xaabcd")], 0), [(0, 1 | 2 | 4)]);
    }

    #[test]
    fn chunk_edges_and_long_lines() {
        let scanner = Scanner::new(vec![(literal("needle", false), 1)]).unwrap();
        let filler = "x".repeat(1000);
        let at_window_edge = format!("{}NEEDLE{}", "y".repeat(CHUNK - 3), "z".repeat(3 * CHUNK));
        let mut texts: Vec<String> = (0..200).map(|_| filler.clone()).collect();
        texts[65] = format!("{filler}needle");
        texts[66] = "needle".into();
        texts[130] = at_window_edge;
        texts[199] = "needle".into();
        let lines: Vec<Line<'_>> = texts.iter().map(|t| line(t)).collect();
        let hits: Vec<usize> = tagged(&scanner, &lines, 0).iter().map(|h| h.0).collect();
        assert_eq!(hits, [65, 66, 130, 199]);
    }
}
