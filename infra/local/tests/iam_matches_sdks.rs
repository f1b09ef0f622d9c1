//! Each function's IAM policy in `infra/template.yaml` and the AWS SDK crates in its
//! `Cargo.toml` name the same services: a new call without its permission, or a permission
//! without its call, fails here (before it fails in an AWS account).
//!
//! Permissions the function's code never calls through an SDK client are set aside, each for
//! a stated reason ([`IMPLIED`]). Offline: reads files only.

use sagewatch_emulator::template::to_json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use yaml_serde::Value as Yaml;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// SDK crate → the IAM service prefix of its actions.
const SDK_SERVICES: &[(&str, &str)] = &[
    ("aws-sdk-sagemaker", "sagemaker"),
    // InvokeEndpoint is `sagemaker:InvokeEndpoint`.
    ("aws-sdk-sagemakerruntime", "sagemaker"),
    ("aws-sdk-cloudwatch", "cloudwatch"),
    ("aws-sdk-cloudwatchlogs", "logs"),
    ("aws-sdk-sns", "sns"),
    ("aws-sdk-sqs", "sqs"),
    ("aws-sdk-dynamodb", "dynamodb"),
    ("aws-sdk-eventbridge", "events"),
    ("aws-sdk-sts", "sts"),
];

/// Actions that are not SDK calls of the function's code, and why.
const IMPLIED: &[(&str, &str)] = &[
    // The Lambda runtime writes the function's stdout to its own log group.
    ("logs:CreateLogStream", "Lambda writes the function's logs"),
    ("logs:PutLogEvents", "Lambda writes the function's logs"),
    // Lambda's service writes failed asynchronous invocations to the DLQ with the role.
    ("sqs:SendMessage", "the dead-letter queue"),
    // The SQS event source mapping polls with the function's role.
    ("sqs:ReceiveMessage", "the SQS event source mapping"),
    ("sqs:DeleteMessage", "the SQS event source mapping"),
    ("sqs:GetQueueAttributes", "the SQS event source mapping"),
    (
        "sqs:ChangeMessageVisibility",
        "the SQS event source mapping",
    ),
    // SNS and SQS call KMS for encrypted topics and queues on the caller's behalf.
    ("kms:GenerateDataKey", "encrypted topics and queues"),
    ("kms:Decrypt", "encrypted topics and queues"),
    // aws-config's AssumeRoleProvider (cross-account targets), not an SDK client of ours.
    ("sts:AssumeRole", "aws-config assumes cross-account roles"),
    // X-Ray tracing is written by the Lambda service.
    ("xray:PutTraceSegments", "Lambda active tracing"),
    ("xray:PutTelemetryRecords", "Lambda active tracing"),
];

/// The `aws-sdk-*` crates among a Cargo.toml's `[dependencies]` (not dev-dependencies).
fn sdk_crates(cargo_toml: &str) -> BTreeSet<String> {
    let mut in_deps = false;
    let mut out = BTreeSet::new();
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && line.starts_with("aws-sdk-") {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            out.insert(name.to_owned());
        }
    }
    out
}

/// `!GetAtt X.Arn` / `!Ref X` → `X`.
fn referenced(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Tagged(t) if t.tag == "GetAtt" || t.tag == "Ref" => {
            let s = t.value.as_str()?;
            Some(s.split('.').next().unwrap_or(s).to_owned())
        }
        _ => None,
    }
}

/// A policy document as JSON (YAML, or JSON built with `!Sub`).
fn policy_json(doc: &Yaml) -> serde_json::Value {
    match doc {
        Yaml::Tagged(t) if t.tag == "Sub" => {
            let text = t.value.as_str().expect("!Sub of a string");
            serde_json::from_str(text).expect("a !Sub policy document is JSON")
        }
        other => to_json(other),
    }
}

/// The Allow statements of a policy document.
fn allows(doc: &Yaml) -> Vec<serde_json::Value> {
    let json = policy_json(doc);
    let statements = match &json["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        one => vec![one.clone()],
    };
    statements
        .into_iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect()
}

fn statement_actions(s: &serde_json::Value) -> Vec<String> {
    match &s["Action"] {
        serde_json::Value::String(a) => vec![a.clone()],
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every allowed action of a policy document.
fn actions(doc: &Yaml) -> Vec<String> {
    allows(doc).iter().flat_map(statement_actions).collect()
}

/// Function binary → the Allow statements of its role (inline policies and attached ones).
fn function_statements(template: &Yaml) -> BTreeMap<String, Vec<serde_json::Value>> {
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut by_role: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for (id, r) in resources {
        let id = id.as_str().unwrap_or_default().to_owned();
        match r["Type"].as_str() {
            Some("AWS::IAM::Role") => {
                for p in r["Properties"]["Policies"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                {
                    by_role
                        .entry(id.clone())
                        .or_default()
                        .extend(allows(&p["PolicyDocument"]));
                }
            }
            Some("AWS::IAM::Policy") => {
                let doc = allows(&r["Properties"]["PolicyDocument"]);
                for role in r["Properties"]["Roles"].as_sequence().into_iter().flatten() {
                    if let Some(role) = referenced(role) {
                        by_role.entry(role).or_default().extend(doc.iter().cloned());
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for (_, r) in resources {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("every function names its cargo binary")
            .to_owned();
        let role =
            referenced(&r["Properties"]["Role"]).expect("every function has an explicit role");
        out.insert(binary, by_role.remove(&role).unwrap_or_default());
    }
    out
}

/// Function binary → the actions its role allows.
fn function_actions(template: &Yaml) -> BTreeMap<String, BTreeSet<String>> {
    function_statements(template)
        .into_iter()
        .map(|(f, statements)| (f, statements.iter().flat_map(statement_actions).collect()))
        .collect()
}

fn service(action: &str) -> &str {
    action.split(':').next().unwrap_or(action)
}

/// Every disagreement between the template's roles and the functions' SDK crates.
fn problems(template: &str, cargo_toml_of: impl Fn(&str) -> String) -> Vec<String> {
    let template: Yaml = yaml_serde::from_str(template).expect("YAML");
    let functions = function_actions(&template);
    let implied: BTreeSet<&str> = IMPLIED.iter().map(|(a, _)| *a).collect();
    let mut problems = Vec::new();
    for (binary, allowed) in &functions {
        let called: BTreeSet<&str> = sdk_crates(&cargo_toml_of(binary))
            .iter()
            .map(|c| {
                SDK_SERVICES
                    .iter()
                    .find(|(name, _)| name == c)
                    .map(|(_, s)| *s)
                    .unwrap_or_else(|| panic!("{binary}: add {c} to SDK_SERVICES"))
            })
            .collect();
        let permitted: BTreeSet<&str> = allowed
            .iter()
            .filter(|a| !implied.contains(a.as_str()))
            .map(|a| service(a))
            .collect();
        for s in called.difference(&permitted) {
            problems.push(format!(
                "{binary} calls {s} but its role allows no {s}: action"
            ));
        }
        for s in permitted.difference(&called) {
            let which: Vec<&String> = allowed.iter().filter(|a| service(a) == *s).collect();
            problems.push(format!(
                "{binary} is allowed {which:?} but declares no SDK crate for {s}"
            ));
        }
    }
    problems
}

#[test]
fn each_function_is_allowed_exactly_the_services_it_calls() {
    let text = std::fs::read_to_string(repo().join("infra/template.yaml")).expect("template");
    let template: Yaml = yaml_serde::from_str(&text).expect("YAML");
    let functions = function_actions(&template);
    assert!(
        ["event-augmenter", "failure-enricher", "overfit-guard"]
            .iter()
            .all(|f| functions.contains_key(*f)),
        "functions found: {:?}",
        functions.keys()
    );
    let found = problems(&text, |binary| {
        let manifest = repo().join("functions").join(binary).join("Cargo.toml");
        std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()))
    });
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn a_call_without_permission_and_a_permission_without_call_both_fail() {
    let template = r#"
Resources:
  FRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [logs:PutLogEvents, dynamodb:PutItem]
                Resource: !GetAtt Table.Arn
              - Effect: Allow
                Action: sagemaker:DescribeEndpoint
                Resource: "*"
  F:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: f
    Properties:
      Role: !GetAtt FRole.Arn
"#;
    let found = problems(template, |_| {
        "[dependencies]\naws-sdk-dynamodb.workspace = true\naws-sdk-sns.workspace = true\n"
            .to_owned()
    });
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("f calls sns"), "{found:?}");
    assert!(found[1].contains("sagemaker:DescribeEndpoint"), "{found:?}");
}

#[test]
fn the_reader_sees_what_it_must() {
    // The parts the main test relies on, on inputs whose answer is known.
    let cargo = "[dependencies]\naws-sdk-sns.workspace = true\naws-sdk-dynamodb = { workspace = true }\n[dev-dependencies]\naws-sdk-sqs.workspace = true\n";
    assert_eq!(
        sdk_crates(cargo),
        BTreeSet::from(["aws-sdk-dynamodb".to_owned(), "aws-sdk-sns".to_owned()])
    );
    let doc: Yaml = yaml_serde::from_str(
        "Statement:\n  - Effect: Allow\n    Action: [sns:Publish, kms:Decrypt]\n  - Effect: Deny\n    Action: sns:DeleteTopic\n",
    )
    .expect("yaml");
    assert_eq!(actions(&doc), ["sns:Publish", "kms:Decrypt"]);
}

fn template() -> Yaml {
    let text = std::fs::read_to_string(repo().join("infra/template.yaml")).expect("template");
    yaml_serde::from_str(&text).expect("YAML")
}

#[test]
fn each_function_may_touch_only_its_own_claim_keys() {
    // #11 item 13: the claim table is shared; each function's keys start with its name.
    let mut checked = 0;
    for (binary, statements) in function_statements(&template()) {
        for s in statements.iter().filter(|s| {
            statement_actions(s)
                .iter()
                .any(|a| a.starts_with("dynamodb:"))
        }) {
            let leading = &s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            assert_eq!(
                leading,
                &serde_json::json!([format!("{binary}#*")]),
                "{binary}: {s}"
            );
            // ForAllValues is true for a request without a key at all.
            assert_eq!(
                s["Condition"]["Null"]["dynamodb:LeadingKeys"], "false",
                "{binary}: {s}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "the augmenter and the enricher both claim keys"
    );
}

#[test]
fn only_this_stacks_rules_write_the_archive() {
    // #11 item 15: the archive log groups' resource policy names its writers.
    let template = template();
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut writes = 0;
    for (_, r) in resources {
        if r["Type"].as_str() != Some("AWS::Logs::ResourcePolicy") {
            continue;
        }
        for s in allows(&r["Properties"]["PolicyDocument"]) {
            if statement_actions(&s)
                .iter()
                .any(|a| a == "logs:PutLogEvents")
            {
                assert!(
                    s["Condition"]["StringEquals"]["aws:SourceAccount"].is_string(),
                    "{s}"
                );
                assert!(
                    !s["Condition"]["ArnEquals"]["aws:SourceArn"].is_null(),
                    "{s}"
                );
                writes += 1;
            }
        }
    }
    assert!(writes >= 1, "the archive's PutLogEvents statement is there");
}
