//! Accuracy of the classifier on the labelled corpus of real, sourced failures
//! (`tests/data/failure_corpus/`). Prints a per-category table; fails below the bars.
//!
//! The rules were written while looking at this corpus, so this is in-sample accuracy: the
//! honest figure for new failures is lower. The bars guard against regressions.

use sagewatch::classify::{classify, lines_from_text, Category};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Case {
    id: String,
    category: Category,
    failure_reason: Option<String>,
    log_excerpt: Option<String>,
}

#[test]
fn corpus_accuracy_per_category() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/failure_corpus/cases.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("corpus");
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("case"))
        .collect();
    assert!(cases.len() >= 60, "corpus has {} cases", cases.len());

    let mut per: BTreeMap<Category, (usize, usize, usize)> = BTreeMap::new(); // (total, right, unknown)
    let mut wrong = Vec::new();
    for case in &cases {
        let lines = lines_from_text(
            case.failure_reason.as_deref(),
            case.log_excerpt.as_deref(),
            "algo-1",
        );
        let got = classify(&lines, None).category;
        let entry = per.entry(case.category).or_default();
        entry.0 += 1;
        if got == case.category {
            entry.1 += 1;
        } else if got == Category::Unknown {
            entry.2 += 1;
        } else {
            wrong.push(format!(
                "{}: labelled {} got {}",
                case.id,
                case.category.as_str(),
                got.as_str()
            ));
        }
    }
    println!(
        "{:<24} {:>5} {:>6} {:>8} {:>6}",
        "category", "cases", "right", "unknown", "wrong"
    );
    let (mut total, mut right, mut unknown) = (0, 0, 0);
    for (cat, (n, r, u)) in &per {
        println!(
            "{:<24} {:>5} {:>6} {:>8} {:>6}",
            cat.as_str(),
            n,
            r,
            u,
            n - r - u
        );
        total += n;
        right += r;
        unknown += u;
    }
    let wrong_n = total - right - unknown;
    println!(
        "{:<24} {:>5} {:>6} {:>8} {:>6}",
        "all", total, right, unknown, wrong_n
    );
    println!(
        "accuracy {:.1}%, wrong category {:.1}%",
        100.0 * right as f64 / total as f64,
        100.0 * wrong_n as f64 / total as f64
    );
    for w in &wrong {
        println!("  {w}");
    }
    assert!(
        per.keys().count() == Category::ALL.len(),
        "every category is in the corpus"
    );
    assert!(
        right as f64 / total as f64 >= 0.85,
        "accuracy fell below 85%"
    );
    assert!(
        wrong_n as f64 / total as f64 <= 0.08,
        "more than 8% confidently wrong: prefer unknown"
    );
}
