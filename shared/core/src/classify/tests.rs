use super::*;
use proptest::prelude::*;

fn reason(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .map(|t| Line {
            source: "FailureReason",
            timestamp: None,
            text: t,
        })
        .collect()
}

#[test]
fn every_rule_compiles() {
    assert!(COMPILED.is_some(), "a rule pattern does not compile");
    assert!(
        HYPERPARAMETER.is_some()
            && S3_URI.is_some()
            && EXIT_CODE.is_some()
            && INSTANCE_TYPE.is_some()
    );
}

#[test]
fn issue_examples() {
    let cases = [
        ("AlgorithmError: RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", Category::OutOfMemory),
        ("AlgorithmError: ExecuteUserScriptError: ExitCode 137", Category::OutOfMemory),
        ("ClientError: Additional properties are not allowed ('learning_rat' was unexpected)", Category::InvalidHyperparameter),
        ("ClientError: {'eta': '5'} is not valid under any of the given schemas", Category::InvalidHyperparameter),
        ("AlgorithmError: cannot copy sequence with size 13 to array axis with dimension 12", Category::DataFormat),
        ("ClientError: Cannot pull algorithm container. Either the image does not exist or its permissions are incorrect.", Category::ImageError),
        ("CannotStartContainerError: manifest unknown", Category::ImageError),
        ("standard_init_linux.go:228: exec user process caused: exec format error", Category::ImageError),
        ("OSError: [Errno 28] No space left on device", Category::DiskFull),
        ("MaxRuntimeExceeded: Training job reached max runtime", Category::Timeout),
        ("CapacityError: Unable to provision requested ML compute capacity.", Category::CapacityOrLimit),
        ("ResourceLimitExceeded: The account-level service limit 'ml.p4d.24xlarge for training job usage' is 0 Instances", Category::CapacityOrLimit),
        ("InternalServerError: We encountered an internal error. Please try again.", Category::InternalError),
        ("ClientError: An error occurred (NoSuchKey) when calling the GetObject operation: s3://b/k.csv", Category::DataMissingOrAccess),
        ("RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1191, unhandled system error", Category::GpuError),
        ("ModuleNotFoundError: No module named 'transformers'", Category::UserCodeError),
        ("AlgorithmError: ExecuteUserScriptError:", Category::Unknown),
        ("", Category::Unknown),
    ];
    for (text, want) in cases {
        let c = classify(&reason(text), None);
        assert_eq!(c.category, want, "{text}");
    }
}

/// The issue's own examples, as CloudWatch and DescribeTrainingJob show them: wrapped over
/// two lines, behind a log prefix, inside `ErrorMessage "…"`, with `#011` for tabs.
#[test]
fn generalizes_over_log_shapes() {
    let c = classify(
        &log(&[
            "[10/16/2017 23:45:17 ERROR 139623806805824 train.py:48] Customer Error: Additional hyperparameters are not allowed",
            "Additional properties are not allowed (u'mini_batch_siz' was unexpected)",
        ]),
        None,
    );
    assert_eq!(c.category, Category::InvalidHyperparameter);
    assert_eq!(c.facts.hyperparameter.as_deref(), Some("mini_batch_siz"));
    let c = classify(
        &log(&["[10/16/2017 23:45:17 ERROR 139623806805824 train.py:48] cannot copy sequence with size 785 to array axis with dimension 784"]),
        None,
    );
    assert_eq!(c.category, Category::DataFormat);
    // argparse rejecting a flag is a hyperparameter SageMaker passed (hyperparameters become
    // `--name value`), not a bug in the script's logic.
    let c = classify(
        &reason("AlgorithmError: ExecuteUserScriptError:\nExitCode 2\nErrorMessage \"usage: train.py [-h] [--epochs EPOCHS]\ntrain.py: error: unrecognized arguments: --learning-rate 0.1\"\nCommand \"/opt/conda/bin/python3.8 train.py --epochs 3 --learning-rate 0.1\""),
        None,
    );
    assert_eq!(c.category, Category::InvalidHyperparameter);
    assert_eq!(c.facts.hyperparameter.as_deref(), Some("learning-rate"));
    assert_eq!(c.facts.exit_code, Some(2));
    // The decisive line wins over an earlier symptom, and the wrapper is not the cause.
    let c = classify(
        &log(&[
            "ERROR - Traceback (most recent call last):",
            "ValueError: could not convert string to float: 'abc'",
            "RuntimeError: CUDA error: an illegal memory access was encountered",
        ]),
        None,
    );
    assert_eq!(c.category, Category::GpuError);
    // A model container's bare 500 names no cause: unknown, not internal_error.
    let c = classify(
        &reason("ModelError: An error occurred (ModelError) when calling the InvokeEndpoint operation: Received server error (500) from primary with message \"Internal Server Error\". See https://us-east-1.console.aws.amazon.com/cloudwatch/home"),
        None,
    );
    assert_eq!(c.category, Category::Unknown);
    assert_eq!(c.confidence, 0.0);
    // The OOM killer's bare "Killed" and a health check that never answers.
    assert_eq!(
        classify(&log(&["epoch 1", "Killed"]), None).category,
        Category::OutOfMemory
    );
    assert_eq!(
        classify(&reason("The primary container for production variant AllTraffic did not pass the ping health check. Please check CloudWatch logs for this endpoint."), None).category,
        Category::ImageError
    );
    // `#011` (a tab in CloudWatch) is shown and grouped as a space.
    let c = classify(
        &log(&[
            "Traceback:",
            "#011raise ValueError(\"x\")",
            "torch.cuda.OutOfMemoryError:#011CUDA out of memory.",
        ]),
        None,
    );
    assert_eq!(c.category, Category::OutOfMemory);
    assert!(
        c.evidence.iter().all(|e| !e.text.contains("#011")),
        "{:?}",
        c.evidence
    );
    // A wrapper alone is no evidence.
    assert_eq!(
        classify(&reason("ClientError: ModelError: An error occurred (ModelError) when calling the InvokeEndpoint operation:"), None).category,
        Category::Unknown
    );
}

#[test]
fn facts_and_hint() {
    let c = classify(
        &reason(
            "ClientError: Additional properties are not allowed ('learning_rat' was unexpected)",
        ),
        Some("ml.m5.xlarge"),
    );
    assert_eq!(c.facts.hyperparameter.as_deref(), Some("learning_rat"));
    assert!(c.hint.contains("'learning_rat'"));
    assert_eq!(c.facts.instance_type.as_deref(), Some("ml.m5.xlarge"));
    let c = classify(
        &reason(
            "No S3 objects found under S3 URL \"s3://bucket/train/\" given in input data source.",
        ),
        None,
    );
    assert_eq!(c.facts.s3_uri.as_deref(), Some("s3://bucket/train/"));
    let c = classify(&reason("ExecuteUserScriptError: ExitCode 137"), None);
    assert_eq!(c.facts.exit_code, Some(137));
}

#[test]
fn logs_decide_when_the_reason_is_generic_and_evidence_names_the_host() {
    let lines = vec![
        Line {
            source: "FailureReason",
            timestamp: None,
            text: "AlgorithmError: ExecuteUserScriptError:",
        },
        Line {
            source: "algo-1",
            timestamp: Some(1),
            text: "epoch 1 loss 0.4",
        },
        Line {
            source: "algo-2",
            timestamp: Some(2),
            text: "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB",
        },
        Line {
            source: "algo-2",
            timestamp: Some(3),
            text: "Traceback (most recent call last):",
        },
    ];
    let c = classify(&lines, None);
    assert_eq!(c.category, Category::OutOfMemory);
    assert_eq!(c.evidence[0].source, "algo-2");
    assert!(c.confidence > 0.8);
}

#[test]
fn signature_groups_the_same_failure_across_jobs() {
    let a = signature::signature("No S3 objects found under S3 URL \"s3://bucket-a/train/\" job train-42 at 2024-01-01 10:00:01");
    let b = signature::signature(
        "No S3 objects found under S3 URL \"s3://other/x/\" job train-7 at 2025-03-02 11:12:13",
    );
    assert_eq!(a, b);
    let c = signature::signature(
        "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity)",
    );
    let d = signature::signature(
        "CUDA out of memory. Tried to allocate 288.00 MiB (GPU 3; 39.59 GiB total capacity)",
    );
    assert_ne!(c.hash, a.hash);
    assert_eq!(
        c.pattern.replace("GiB", "MiB"),
        d.pattern.replace("GiB", "MiB")
    );
    assert!(signature::mask("/opt/ml/input/data/train/a.csv 0xdeadbeef 5f3a9c2e uuid 123e4567-e89b-12d3-a456-426614174000").contains("<path> <hex> <hex> uuid <uuid>"));
    assert_eq!(signature::mask("bad added"), "bad added");
}

#[test]
fn odd_input_never_panics_and_stays_bounded() {
    let huge = "x".repeat(1_000_000);
    let binary: String = (0u8..=255).map(char::from).collect();
    let lines = vec![
        Line {
            source: "algo-1",
            timestamp: None,
            text: &huge,
        },
        Line {
            source: "algo-1",
            timestamp: None,
            text: &binary,
        },
        Line {
            source: "algo-1",
            timestamp: None,
            text: "RuntimeError: CUDA error: an illegal memory access was encountered",
        },
    ];
    let c = classify(&lines, None);
    assert_eq!(c.category, Category::GpuError);
    assert!(c
        .evidence
        .iter()
        .all(|e| e.text.chars().count() <= MAX_EVIDENCE_CHARS + 1));
    let u = classify(&lines[..2], None);
    assert_eq!(u.category, Category::Unknown);
    assert!(u
        .signature
        .as_ref()
        .is_none_or(|s| s.pattern.chars().count() <= signature::MAX_PATTERN_CHARS + 1));
}

/// The classifier as it was before the line prefilter (one `RegexSet` pass and one `find_iter`
/// per matched rule over all lines joined with `\n`), kept verbatim as the definition the fast
/// path must agree with.
mod reference {
    use super::super::*;
    use regex::RegexSet;

    static SET: LazyLock<RegexSet> =
        LazyLock::new(|| RegexSet::new(RULES.iter().map(|r| r.pattern)).unwrap());
    static EACH: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        RULES
            .iter()
            .map(|r| Regex::new(r.pattern).unwrap())
            .collect()
    });

    pub fn classify(lines: &[Line<'_>], instance_type: Option<&str>) -> Classification {
        let mut all = String::with_capacity(lines.iter().map(|l| l.text.len() + 1).sum());
        let mut line_starts = Vec::with_capacity(lines.len());
        for l in lines {
            line_starts.push(all.len());
            all.push_str(l.text);
            all.push('\n');
        }
        let matched: Vec<usize> = SET.matches(&all).into_iter().collect();
        if matched.is_empty() {
            return unknown(lines, instance_type);
        }
        let mut hits: Vec<(usize, usize)> = Vec::new();
        for &ri in &matched {
            let rule = &RULES[ri];
            let mut previous = usize::MAX;
            for m in EACH[ri].find_iter(&all) {
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
            return unknown(lines, instance_type);
        };
        let rule = &RULES[rule_index];
        if rule.category == Category::Unknown {
            return unknown(lines, instance_type);
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
            signature: Some(signature::signature(&crate::redact::redact(&clean(
                lines[decisive].text,
            )))),
            facts,
        }
    }

    fn unknown(lines: &[Line<'_>], instance_type: Option<&str>) -> Classification {
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
            signature: decisive.map(|d| signature::signature(&crate::redact::redact(&clean(d)))),
            facts,
        }
    }

    fn extract_facts(
        lines: &[Line<'_>],
        preferred: &[usize],
        instance_type: Option<&str>,
    ) -> Facts {
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
}

fn assert_same_as_reference(lines: &[Line<'_>], instance_type: Option<&str>) {
    assert_eq!(
        classify(lines, instance_type),
        reference::classify(lines, instance_type),
        "{lines:#?}"
    );
}

fn log(texts: &[&'static str]) -> Vec<Line<'static>> {
    texts
        .iter()
        .map(|&text| Line {
            source: "algo-1",
            timestamp: None,
            text,
        })
        .collect()
}

#[test]
fn every_rule_has_a_literal_so_most_lines_skip_the_regexes() {
    let compiled = COMPILED.as_ref().unwrap();
    assert_eq!(
        compiled.always, 0,
        "a rule or fact pattern requires no literal"
    );
    // Rules whose matches can span lines have a literal-guarded line-end test, none needs the
    // joined text from the first line.
    assert!(compiled.crossing.iter().all(|c| c.line_end.is_some()));
    assert!(compiled.scanner.literal_count() > RULES.len());
}

#[test]
fn matches_across_lines_count_as_in_the_joined_text() {
    let cases: &[&[&'static str]] = &[
        // `ValueError,` then `exit code` on a later line.
        &["ok", "ValueError,  ", "", "  exit code 2", "done"],
        // Blank lines before a leading `^\s*`: same line as without them.
        &["", "   ", "ValueError: bad", "ExecuteUserScriptError:"],
        // A hyperparameter name broken over lines.
        &[
            "ClientError: Additional properties are not allowed ('learning",
            "rate' was unexpected)",
        ],
        &[
            "Additional properties are not allowed ('a",
            "no quote here",
            "b' was unexpected) and ('c' was unexpected)",
        ],
    ];
    for lines in cases {
        assert_same_as_reference(&log(lines), None);
    }
    // Since issue 10 no rule spans lines (`, exit code` must follow on the same line; the
    // wrapped CloudWatch cases are matched by line-local patterns, which keeps the scan one
    // pass): the joined-text machinery stays exact, but this one is no match.
    let c = classify(&log(cases[0]), None);
    assert_eq!(c.category, Category::Unknown);
    assert_eq!(c.facts.exit_code, Some(2));
}

#[test]
fn case_variants_outside_ascii_still_match() {
    // `(?i)` folds KELVIN SIGN to k and LONG S to s; the lowercased prefilter must not lose them.
    for text in [
        "NoSuch\u{212A}ey",
        "No \u{17F}pace left on device",
        "OOM\u{212A}illed",
    ] {
        let lines = log(&[text]);
        assert_same_as_reference(&lines, None);
        assert_ne!(classify(&lines, None).category, Category::Unknown, "{text}");
    }
}

#[test]
fn long_lines_and_many_lines_agree_with_the_reference() {
    let long = format!(
        "{}CUDA out of memory{}",
        "x".repeat(70_000),
        "y".repeat(150_000)
    );
    let filler: Vec<String> = (0..5000)
        .map(|i| format!("step {i} loss 0.{i} s3://b/k{i}"))
        .collect();
    let mut lines: Vec<Line<'_>> = filler
        .iter()
        .map(|t| Line {
            source: "algo-1",
            timestamp: Some(1),
            text: t,
        })
        .collect();
    lines.insert(
        4000,
        Line {
            source: "algo-2",
            timestamp: None,
            text: &long,
        },
    );
    lines.insert(
        100,
        Line {
            source: "algo-2",
            timestamp: None,
            text: "KeyError: 'eta' exit code 3 on ml.p3.2xlarge",
        },
    );
    assert_same_as_reference(&lines, None);
    assert_same_as_reference(&lines[..4000], Some("ml.m5.large"));
    assert_same_as_reference(&lines[200..300], None);
}

/// The pattern without its zero-width assertions (which proptest cannot generate): it matches
/// a superset of the pattern's matches and requires the same literals.
fn without_looks(hir: &Hir) -> Hir {
    use regex_syntax::hir::{Capture, HirKind, Repetition};
    match hir.kind() {
        HirKind::Look(_) => Hir::empty(),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) => hir.clone(),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(without_looks(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(without_looks(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(items) => Hir::concat(items.iter().map(without_looks).collect()),
        HirKind::Alternation(alts) => Hir::alternation(alts.iter().map(without_looks).collect()),
    }
}

/// Every pattern the scanner stands guard for, with its required literals.
fn guarded_patterns() -> Vec<(String, Hir, literals::Required)> {
    let mut out = Vec::new();
    let mut add = |name: String, hir: Hir| {
        let required = literals::required(&hir).expect("every pattern requires a literal");
        out.push((name, hir, required));
    };
    for rule in RULES {
        let hir = literals::parse(rule.pattern).unwrap();
        if let Some(prefix) = literals::crossing_prefix(&hir) {
            add(format!("line end of {}", rule.pattern), prefix);
        }
        add(rule.pattern.to_owned(), hir);
    }
    for (re, _) in &FACTS {
        let re = re.as_ref().unwrap().as_str();
        add(re.to_owned(), literals::parse(re).unwrap());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    /// The prefilter is sound: whatever a pattern matches holds one of its literals.
    #[test]
    fn every_match_holds_a_required_literal(seed in any::<u64>()) {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &[seed as u8; 32]),
        );
        for (name, hir, required) in guarded_patterns() {
            let strategy = proptest::string::string_regex_parsed(&without_looks(&hir)).unwrap();
            for _ in 0..20 {
                let s = strategy.new_tree(&mut runner).unwrap().current();
                let held = required.literals.iter().any(|l| {
                    s.as_bytes().windows(l.bytes.len()).any(|w| l.matches(w))
                }) || s.chars().any(|c| required.specials.contains(&c));
                prop_assert!(held, "{name}: {s:?} holds none of {:?}", required.literals);
            }
        }
    }
}

/// Pieces of real failure text, the rules' trigger words and their look-alikes, and noise.
const PIECES: &[&str] = &[
    "CUDA out of memory. Tried to allocate 2.00 GiB",
    "torch.cuda.OutOfMemoryError",
    "ExecuteUserScriptError",
    "ExitCode 137",
    "exit code: 139",
    "exit_code=1",
    "Exitcode 9",
    "signal: 9",
    "Signals.SIGKILL",
    "OOMKilled",
    "No space left on device",
    "ENOSPC",
    "NCCL error",
    "ProcessGroupNCCL.cpp:1191",
    "CUDA error: device-side assert triggered",
    "Xid",
    "Cannot pull algorithm container",
    "manifest for x:1 not found",
    "manifest unknown",
    "exec format error",
    "Additional properties are not allowed ('",
    "learning_rat",
    "' was unexpected)",
    "is not valid under any of the given schemas",
    "Hyperparameter eta: 5 is not in",
    "cannot copy sequence with size 13 to array axis with dimension 12",
    "Unable to parse csv",
    "UnicodeDecodeError",
    "No S3 objects found under S3 URL",
    "s3://bucket/train/a.csv",
    "NoSuchKey",
    "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied",
    "SM_CHANNEL_TRAIN",
    "is not authorized to perform",
    "kms:Decrypt access denied",
    "KMSAccessDeniedException",
    "ResourceLimitExceeded",
    "CapacityError",
    "MaxRuntimeExceeded",
    "timed out after 30",
    "InternalServerError",
    "We encountered an internal error",
    "ModuleNotFoundError: No module named 'x'",
    "has no attribute 'y'",
    "ValueError:",
    "ValueError,",
    "SomeError, ",
    "exit code",
    "  exit code 1",
    "x' was unexpected)",
    "KeyError: 'lr'",
    "foo.BarException:",
    "Segmentation fault",
    "Error for Training job",
    "Reason: AlgorithmError",
    "UnexpectedStatusException",
    "ml.p3.2xlarge",
    "parameter 'depth'",
    "for 'num_round' which is required",
    "Traceback (most recent call last):",
    "Received server error (500) from primary",
    "ModelError: An error occurred (ModelError) when calling the InvokeEndpoint operation: ",
    "ClientError: ",
    "Worker died.",
    "Killed",
    "#011",
    "status code 137",
    "train.py: error: unrecognized arguments: --lr",
    "GET /ping HTTP/1.1\" 500",
    "Internal Server Error",
    "\\u0027x\\u0027",
    "epoch 3 loss 0.41",
    "INFO",
    "failed",
    "exception",
    "error",
    "   ",
    "\t",
    "'",
    "é█",
    "\u{212A}",
    "\u{17F}",
    "0x7f",
    "",
];

fn text_strategy() -> impl Strategy<Value = String> {
    let piece = (
        prop::sample::select(PIECES),
        // 0: as is, 1: lower, 2: upper, 3: k/s as their non-ASCII case variants.
        0u8..4,
        prop::sample::select(&["", " ", "\n", ": ", ", ", "\n  ", "'"][..]),
    )
        .prop_map(|(p, case, sep)| {
            let p = match case {
                1 => p.to_lowercase(),
                2 => p.to_uppercase(),
                3 => p.replace('k', "\u{212A}").replace('s', "\u{17F}"),
                _ => p.to_owned(),
            };
            format!("{p}{sep}")
        });
    prop::collection::vec(piece, 0..4).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    #[test]
    fn same_results_as_the_joined_text_reference(
        lines in prop::collection::vec(
            (prop::sample::select(&["FailureReason", "ExitMessage", "algo-1", "algo-2"][..]), text_strategy()),
            0..12,
        ),
        instance_type in prop::option::of(Just("ml.g5.xlarge")),
    ) {
        let lines: Vec<Line<'_>> = lines
            .iter()
            .map(|(source, text)| Line { source, timestamp: None, text })
            .collect();
        assert_same_as_reference(&lines, instance_type);
    }
}
