//! The secret corpus (`tests/data/secrets/`): every secret shape disappears, every look-alike
//! survives; secret names; known values; and the throughput on a realistic 8 MiB log.

use sagewatch::redact::{bounded, is_secret_name, redact, KnownSecrets};
use serde::Deserialize;
use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Instant;

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/secrets")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One row of `corpus.jsonl`.
#[derive(Deserialize)]
struct Row {
    what: String,
    input: String,
    /// Substrings that must not be in the output.
    gone: Vec<String>,
    /// Substrings that must still be in the output.
    kept: Vec<String>,
    /// The output must be the input, borrowed (look-alikes).
    #[serde(default)]
    unchanged: bool,
}

fn check(row: &Row, out: &str, problems: &mut Vec<String>) {
    for g in &row.gone {
        if out.contains(g.as_str()) {
            problems.push(format!("{}: {g:?} survived in {out:?}", row.what));
        }
    }
    for k in &row.kept {
        if !out.contains(k.as_str()) {
            problems.push(format!("{}: {k:?} was lost in {out:?}", row.what));
        }
    }
    if !row.gone.is_empty() && !out.contains("[REDACTED") {
        problems.push(format!("{}: no [REDACTED] marker in {out:?}", row.what));
    }
}

#[test]
fn corpus_secrets_go_look_alikes_stay() {
    let text = data("corpus.jsonl");
    let rows: Vec<Row> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(rows.len() > 100, "corpus has {} rows", rows.len());
    let mut problems = Vec::new();
    for row in &rows {
        let out = redact(&row.input);
        check(row, &out, &mut problems);
        if row.unchanged && !matches!(out, Cow::Borrowed(_)) {
            problems.push(format!("{}: changed to {out:?}", row.what));
        }
        // Redacting twice changes nothing more: markers are not themselves secrets.
        let twice = redact(&out);
        if twice != out {
            problems.push(format!(
                "{}: second pass changed {out:?} to {twice:?}",
                row.what
            ));
        }
        // JSON documents (CloudTrail parameters, reports) go through redact_json.
        let mut doc = serde_json::json!({ "detail": { "text": row.input } });
        sagewatch::redact::redact_json(&mut doc);
        check(
            row,
            doc["detail"]["text"].as_str().unwrap_or(""),
            &mut problems,
        );
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[derive(Deserialize)]
struct Names {
    secret: Vec<String>,
    plain: Vec<String>,
}

#[test]
fn secret_names_table() {
    let names: Names = serde_json::from_str(&data("names.json")).expect("names.json");
    let wrong_secret: Vec<_> = names.secret.iter().filter(|n| !is_secret_name(n)).collect();
    let wrong_plain: Vec<_> = names.plain.iter().filter(|n| is_secret_name(n)).collect();
    assert!(
        wrong_secret.is_empty() && wrong_plain.is_empty(),
        "not seen as secret: {wrong_secret:?}; wrongly secret: {wrong_plain:?}"
    );
}

/// The assignment rules read the same table: each secret name loses its value in every
/// spelling, each plain name keeps it.
#[test]
fn assignments_follow_the_names_table() {
    let names: Names = serde_json::from_str(&data("names.json")).expect("names.json");
    let mut problems = Vec::new();
    for name in names.secret.iter().filter(|n| !n.is_empty()) {
        for text in [
            format!("{name}=plainvalue1 next"),
            format!("{{\"{name}\": \"plainvalue1\"}}"),
            format!("{name}: plainvalue1"),
            format!("run --{name} plainvalue1 --epochs 3"),
        ] {
            let out = redact(&text);
            if out.contains("plainvalue1") {
                problems.push(format!("{name}: {text:?} -> {out:?}"));
            }
        }
    }
    for name in names
        .plain
        .iter()
        .filter(|n| n.chars().any(char::is_alphanumeric))
    {
        let text = format!("{name}=plainvalue1 next");
        if !matches!(redact(&text), Cow::Borrowed(_)) {
            problems.push(format!("{name}: {text:?} -> {:?}", redact(&text)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[derive(Deserialize)]
struct KnownRow {
    what: String,
    pairs: Vec<(String, String)>,
    input: String,
    gone: Vec<String>,
    kept: Vec<String>,
}

#[test]
fn known_values_go_wherever_they_appear() {
    let mut problems = Vec::new();
    for line in data("known.jsonl").lines().filter(|l| !l.trim().is_empty()) {
        let row: KnownRow = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let known = KnownSecrets::new(row.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let out = known.redact(&row.input);
        let as_row = Row {
            what: row.what.clone(),
            input: row.input.clone(),
            gone: row.gone.clone(),
            kept: row.kept.clone(),
            unchanged: false,
        };
        check(&as_row, &out, &mut problems);
        if row.gone.is_empty() && out != row.input {
            problems.push(format!("{}: changed to {out:?}", row.what));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn known_values_from_hyperparameters_and_environment() {
    let hp = [("hf_token", "hf_notashape"), ("epochs", "3")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let env = [("DB_PASS", "env-pass-123")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let known = KnownSecrets::from_maps([&hp, &env]);
    let mut doc =
        serde_json::json!({"reason": "auth hf_notashape / env-pass-123 failed", "epochs": "3"});
    known.redact_json(&mut doc);
    let reason = doc["reason"].as_str().unwrap_or_default();
    assert_eq!(reason, "auth [REDACTED] / [REDACTED] failed");
    assert_eq!(doc["epochs"], "3");
}

#[test]
fn bounded_error_text() {
    let body = format!(
        "unparseable response: {{\"HyperParameters\": {{\"db_password\": \"pw-in-body\"}}, \"log\": \"{}\"}}",
        "x".repeat(10_000)
    );
    let out = bounded(&body, 1024);
    assert!(out.len() <= 1024, "{}", out.len());
    assert!(!out.contains("pw-in-body"), "{out}");
    assert!(out.contains("[truncated, "), "{out}");
}

/// A training log as CloudWatch keeps it: toolkit banner, hyperparameters, progress bars,
/// NCCL chatter, metrics, warnings, a traceback; and a secret every `SECRET_EVERY` lines.
fn realistic_log(target_bytes: usize) -> (String, Vec<String>) {
    const SECRET_EVERY: usize = 4_000;
    let secrets = [
        "--hf_token hf_aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH",
        "password=Sup3rS3cret-{}",
        "postgresql://admin:dbpw{}x@db.internal:5432/prod",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ7fSJ9.c2lnbmF0dXJl{}",
        "AKIAIOSFODNN7EXAMPL{}",
        "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R{}",
    ];
    let mut out = String::with_capacity(target_bytes + 4096);
    let mut planted = Vec::new();
    let mut i = 0usize;
    while out.len() < target_bytes {
        let step = i % 3000;
        let line = match i % 12 {
            0 => format!(
                "[2024-06-10 16:{:02}:{:02}.{:03} algo-1:45 INFO trainer.py:1987] {{'loss': 0.{:04}, 'grad_norm': 1.{:03}, 'learning_rate': 4.5e-05, 'epoch': 0.{:02}}}",
                (i / 60) % 60, i % 60, i % 1000, 4000 + i % 999, i % 997, i % 100
            ),
            1 => format!(
                " {:>2}%|████▏     | {step}/3000 [12:34<17:21,  1.67it/s]",
                step * 100 / 3000
            ),
            2 => format!("algo-1:45:45 [{}] NCCL INFO Channel {:02}/32 : 0 1 2 3 4 5 6 7", i % 8, i % 32),
            3 => format!(
                "Downloading s3://sagewatch-demo-bucket/data/train/part-{:05}.parquet to /opt/ml/input/data/train/part-{:05}.parquet",
                i % 100_000, i % 100_000
            ),
            4 => "Setting `pad_token_id` to `eos_token_id`:2 for open-end generation.".to_owned(),
            5 => format!(
                "Epoch {}/10 - loss: 0.{:04} - accuracy: 0.{:04} - val_loss: 0.{:04} - val_accuracy: 0.8534",
                i % 10, i % 9999, i % 9973, i % 9967
            ),
            6 => format!("#metrics {{\"train_loss\": 0.{:03}, \"val_loss\": 0.{:03}, \"step\": {i}}}", i % 997, i % 991),
            7 => "/opt/conda/lib/python3.10/site-packages/torch/nn/modules/module.py:1511: UserWarning: To copy construct from a tensor, use sourceTensor.clone().detach()".to_owned(),
            8 => format!(
                "[INFO] step={i} tokens_per_second=12345.6 max_tokens=2048 lr=3e-05 path=/opt/ml/checkpoints/step-{i} key=metrics/{i}"
            ),
            9 => "2024-06-10 16:01:02,123 sagemaker-training-toolkit INFO     Invoking user script with the following command: /opt/conda/bin/python3.10 train.py --epochs 3 --learning_rate 0.0001 --model_name_or_path bert-base-uncased".to_owned(),
            10 => "  File \"/opt/ml/code/train.py\", line 42, in <module>\n    main(args)".to_owned(),
            _ => format!(
                "    \"training_job_name\": \"sagewatch-demo-train-{i}\", \"instance_type\": \"ml.g5.2xlarge\", \"image\": \"763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training@sha256:3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c\""
            ),
        };
        out.push_str(&line);
        out.push('\n');
        if i % SECRET_EVERY == SECRET_EVERY - 1 {
            let n = planted.len();
            let secret = secrets[n % secrets.len()].replace("{}", &(n % 10).to_string());
            out.push_str(&format!("[ERROR] connection failed {secret} retrying\n"));
            planted.push(secret);
        }
        i += 1;
    }
    (out, planted)
}

/// Prints the throughput (not asserted: machines differ); asserts that the planted secrets
/// are gone and that nothing else changed.
#[test]
fn throughput_on_a_realistic_8_mib_log() {
    let (log, planted) = realistic_log(8 << 20);
    let mib = log.len() as f64 / (1 << 20) as f64;

    let start = Instant::now();
    let whole = redact(&log);
    let whole_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut changed_lines = 0usize;
    for line in log.lines() {
        if matches!(redact(line), Cow::Owned(_)) {
            changed_lines += 1;
        }
    }
    let lines_s = start.elapsed().as_secs_f64();

    println!(
        "redaction: {mib:.1} MiB, {} lines, {} secrets: whole text {:.1} MiB/s ({:.0} ms), line by line {:.1} MiB/s ({:.0} ms)",
        log.lines().count(),
        planted.len(),
        mib / whole_s,
        whole_s * 1e3,
        mib / lines_s,
        lines_s * 1e3
    );
    for fragment in [
        "aBcDeFgHiJkLmNoPqRsTuVwXyZ",
        "Sup3rS3cret",
        ":dbpw",
        "c2lnbmF0dXJl",
        "AKIAIOSFODNN7EXAMPL",
        "ghp_a1B2c3D4",
    ] {
        assert!(!whole.contains(fragment), "{fragment} survived");
    }
    // Every planted line changed, no other line did.
    assert_eq!(changed_lines, planted.len());
    let clean: Vec<&str> = log.lines().filter(|l| !l.starts_with("[ERROR]")).collect();
    let after: Vec<&str> = whole
        .lines()
        .filter(|l| !l.starts_with("[ERROR]"))
        .collect();
    assert_eq!(clean, after);
}
