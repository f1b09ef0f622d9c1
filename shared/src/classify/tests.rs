use super::*;

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
