//! Redaction: nothing secret leaves a function in a log line, notification or metric property.
//!
//! Three layers, all data-driven:
//!
//! * [`SECRET_NAMES`]: one table that says which *names* (hyperparameters, environment
//!   variables, JSON keys, `--flags`, `key=value` keys) hold secrets. [`is_secret_name`] reads it,
//!   and so do the assignment rules below.
//! * [`RULES`]: the secret *shapes* in free text (PEM blocks, URLs with credentials, provider
//!   tokens with well-known prefixes, JWTs, AWS keys, `--password value`, `key=value`), applied
//!   in order, each only when one of its keywords occurs in the text (one Aho-Corasick pass
//!   decides which rules run, so a clean line costs one scan).
//! * [`KnownSecrets`]: the exact values of a job's secret-named hyperparameters and environment
//!   variables, replaced wherever they appear, whatever their shape.
//!
//! Replacements keep the *name* of what was removed (`password=[REDACTED]`,
//! `[REDACTED:github-token]`) so a reader still sees what the line was about.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::Regex;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

pub const REDACTED: &str = "[REDACTED]";

// ---- Secret names -------------------------------------------------------------------------

/// How a name marks its value as secret. A name is split into lower-case parts at separators
/// and camelCase humps (`WANDB_API_KEY`, `wandbApiKey` → `wandb`, `api`, `key`); `joined` is
/// the parts glued together (`wandbapikey`).
enum NameRule {
    /// `joined` contains this (`DB_PASSWORD`, `mypassword`, `client_secret`).
    Contains(&'static str),
    /// A part is exactly this (`DB_PASS`, `GITHUB_PAT`, `SENTRY_DSN`).
    Part(&'static str),
    /// The last part is exactly this (`X-Amz-Signature`, `HTTP_AUTH`; not the error code
    /// `SignatureDoesNotMatch`).
    Last(&'static str),
    /// A part ends with `suffix` (`HF_TOKEN`, `authtoken`) unless the part before it is one of
    /// `unless_after`: tokenizer vocabulary such as `pad_token` is not a credential.
    EndsWith {
        suffix: &'static str,
        unless_after: &'static [&'static str],
    },
    /// A part is one of `words` right after one of `after` (`OPENAI_KEY`, `DATABASE_URL`).
    After {
        after: &'static [&'static str],
        words: &'static [&'static str],
    },
}

/// Words before `token` that make it tokenizer vocabulary, not a credential.
#[rustfmt::skip]
const TOKENIZER_WORDS: &[&str] = &[
    "pad", "eos", "bos", "unk", "cls", "sep", "mask", "special", "added", "start", "end",
    "max", "min", "num", "total", "new", "prompt", "completion", "vocab", "image", "chat",
    "stop", "first", "last", "next", "per",
    // AWS error codes: `ExpiredToken: The security token included in the request is expired`.
    "expired", "invalid", "missing", "unrecognized",
];

/// Words before `key` that make it a credential (`sort_key`, `s3_key` are not).
#[rustfmt::skip]
const KEY_OWNERS: &[&str] = &[
    "api", "access", "secret", "private", "ssh", "account", "master", "encryption", "signing",
    "sign", "client", "license", "licence", "auth", "session", "shared", "storage",
    "subscription", "service", "app", "consumer", "admin", "root", "deploy", "hmac", "jwt",
    "gpg", "pgp", "rsa", "ssl", "tls", "openai", "anthropic", "cohere", "mistral", "groq",
    "wandb", "hf", "huggingface", "github", "gitlab", "slack", "stripe", "google", "gcp",
    "azure", "aws", "comet", "neptune", "pinecone", "sendgrid", "twilio", "mailgun", "datadog",
    "dd", "newrelic", "sentry", "replicate", "together", "voyage", "gemini",
];

/// Words before `url`/`uri` that make it a connection string with a password in it.
#[rustfmt::skip]
const DATABASE_WORDS: &[&str] = &[
    "database", "db", "postgres", "postgresql", "pg", "psql", "mysql", "mariadb", "mssql",
    "redis", "mongo", "mongodb", "amqp", "broker", "rabbitmq", "rabbit", "sqlalchemy", "jdbc",
    "sql", "celery", "cache", "elasticsearch", "opensearch", "neo4j", "clickhouse",
    "snowflake", "connection",
];

/// The one table of secret names.
const SECRET_NAMES: &[NameRule] = &[
    NameRule::Contains("password"),
    NameRule::Contains("passwd"),
    NameRule::Contains("passphrase"),
    NameRule::Contains("passcode"),
    NameRule::Contains("secret"),
    NameRule::Contains("credential"),
    NameRule::Contains("webhook"),
    NameRule::After {
        after: &["web"],
        words: &["hook"],
    },
    NameRule::Contains("apikey"),
    NameRule::Contains("privatekey"),
    NameRule::Contains("accesskey"),
    NameRule::Contains("accountkey"),
    NameRule::Contains("connectionstring"),
    NameRule::Contains("connstr"),
    NameRule::Part("pwd"),
    NameRule::Part("pass"),
    NameRule::Part("pat"),
    NameRule::Part("creds"),
    NameRule::Part("cred"),
    NameRule::Part("dsn"),
    NameRule::Last("sig"),
    NameRule::Last("signature"),
    NameRule::Last("cookie"),
    NameRule::Last("auth"),
    NameRule::Part("authorization"),
    NameRule::Part("sas"),
    NameRule::Part("jwt"),
    NameRule::Part("bearer"),
    NameRule::EndsWith {
        suffix: "token",
        unless_after: TOKENIZER_WORDS,
    },
    NameRule::After {
        after: KEY_OWNERS,
        words: &["key"],
    },
    NameRule::After {
        after: DATABASE_WORDS,
        words: &["url", "uri"],
    },
];

/// A last part that makes the name *about* a secret, not the secret: `secret_arn`,
/// `token_id`, `password_file`, `pad_token_id`, `AWS_ACCESS_KEY_ID` (key ids are redacted by
/// their shape instead).
#[rustfmt::skip]
const NOT_SECRET_LAST: &[&str] = &[
    "arn", "id", "ids", "name", "names", "version", "path", "file", "dir", "type", "types",
    "length", "len", "size", "count", "ttl", "expiry", "expiration", "expires", "provider",
    "manager", "region", "prefix", "suffix", "enabled", "required", "policy", "rotation",
    "kind", "mode", "format", "env", "method", "scheme", "header", "location", "source",
    "exception", "error", "errors", "expired", "invalid", "missing", "required", "rotated",
    "changed",
];

/// A first part that makes the name an error or a question, not a value:
/// `InvalidPassword: …`, `missing_token: …`.
#[rustfmt::skip]
const NOT_SECRET_FIRST: &[&str] = &[
    "invalid", "expired", "missing", "incorrect", "wrong", "bad", "unknown", "malformed", "no",
    "empty", "has", "is", "use", "needs",
];

impl NameRule {
    fn matches(&self, parts: &[String], joined: &str) -> bool {
        match self {
            NameRule::Contains(s) => joined.contains(s),
            NameRule::Part(p) => parts.iter().any(|part| part == p),
            NameRule::Last(p) => parts.last().is_some_and(|part| part == p),
            NameRule::EndsWith {
                suffix,
                unless_after,
            } => parts.iter().enumerate().any(|(i, part)| {
                part.ends_with(suffix)
                    && !(i > 0 && unless_after.contains(&parts[i - 1].as_str()))
                    && !(part.len() > suffix.len()
                        && unless_after.contains(&&part[..part.len() - suffix.len()]))
            }),
            NameRule::After { after, words } => {
                parts
                    .windows(2)
                    .any(|w| words.contains(&w[1].as_str()) && after.contains(&w[0].as_str()))
                    || parts.iter().any(|part| {
                        // Glued forms: `openaikey`, `databaseurl`.
                        words.iter().any(|w| {
                            part.strip_suffix(w)
                                .is_some_and(|owner| after.contains(&owner))
                        })
                    })
            }
        }
    }

    /// A literal every name this rule accepts contains (lower case): the assignment rules
    /// use these so that only names that may be secret reach [`is_secret_name`].
    fn hints(&self) -> Vec<&'static str> {
        match self {
            // The raw name has separators where `joined` has none (`CONNECTION_STRING`): a
            // separator never falls within the first four letters of these words.
            NameRule::Contains(s) => vec![s.get(..4).unwrap_or(s)],
            NameRule::Part(s) | NameRule::Last(s) => vec![s],
            NameRule::EndsWith { suffix, .. } => vec![suffix],
            NameRule::After { words, .. } => words.to_vec(),
        }
    }
}

/// `WANDB_API_KEY`, `wandbApiKey`, `X-Amz-Security-Token`, `AWSSecretKey` → lower-case parts.
fn name_parts(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for chunk in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        // The chunk is ASCII alphanumeric: byte indexes are char indexes.
        let b = chunk.as_bytes();
        let mut start = 0;
        for i in 1..b.len() {
            let (prev, cur) = (b[i - 1], b[i]);
            let next_lower = b.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            // `apiKey` | `AWSSecret` (an acronym ends where a capitalised word starts).
            let hump = cur.is_ascii_uppercase()
                && (prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next_lower));
            if hump {
                parts.push(chunk[start..i].to_ascii_lowercase());
                start = i;
            }
        }
        if start < b.len() {
            parts.push(chunk[start..].to_ascii_lowercase());
        }
    }
    parts
}

thread_local! {
    /// Names repeat (`path=`, `key=`, `--epochs` on every line of a log): the verdicts of the
    /// last few thousand are kept per thread, which makes the assignment rule ~4× faster.
    static VERDICTS: std::cell::RefCell<std::collections::HashMap<String, bool>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Whether a hyperparameter, environment variable, JSON key or flag name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    const MEMO_MAX_NAME: usize = 64;
    const MEMO_MAX_ENTRIES: usize = 4096;
    if name.len() > MEMO_MAX_NAME {
        return judge_name(name);
    }
    VERDICTS.with(|memo| {
        if let Some(&verdict) = memo.borrow().get(name) {
            return verdict;
        }
        let verdict = judge_name(name);
        let mut memo = memo.borrow_mut();
        if memo.len() >= MEMO_MAX_ENTRIES {
            memo.clear();
        }
        memo.insert(name.to_owned(), verdict);
        verdict
    })
}

fn judge_name(name: &str) -> bool {
    let parts = name_parts(name);
    let Some(last) = parts.last() else {
        return false;
    };
    let first = parts[0].as_str();
    if parts.len() > 1
        && (NOT_SECRET_LAST.contains(&last.as_str()) || NOT_SECRET_FIRST.contains(&first))
    {
        return false;
    }
    let joined = parts.concat();
    SECRET_NAMES
        .iter()
        .any(|rule| rule.matches(&parts, &joined))
}

// ---- Secret shapes in text ----------------------------------------------------------------

/// What a rule does with a match.
#[derive(Clone, Copy)]
enum Action {
    /// Replace with the template (`${name}` groups as in `Regex::replace_all`).
    Template(&'static str),
    /// The template, but only when group `secret` passes the guard, so that words and
    /// identifiers with the same prefix survive.
    If(Guard, &'static str),
    /// `name<sep>value` (`password=…`, `"api_key": "…"`, `--hf_token hf_…`): the value is
    /// replaced when [`is_secret_name`] says so; other values are still scanned for nested
    /// assignments.
    Assignment,
}

/// Tests that a candidate is machine-made, not a word.
#[derive(Clone, Copy)]
enum Guard {
    /// Upper and lower case letters (Hugging Face tokens are letters only).
    MixedCase,
    /// Upper, lower and a digit (base64 keys: `/` and `+` may cut it in short runs).
    MixedCaseDigit,
    /// Upper, lower, a digit and a run of 16 alphanumerics (`sk-…` keys; a job name such as
    /// `sk-Classifier-Run-2024` has none of that length).
    Random,
}

impl Guard {
    fn passes(self, secret: &str) -> bool {
        let upper = secret.bytes().any(|b| b.is_ascii_uppercase());
        let lower = secret.bytes().any(|b| b.is_ascii_lowercase());
        let digit = secret.bytes().any(|b| b.is_ascii_digit());
        let longest_run = secret
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(str::len)
            .max()
            .unwrap_or(0);
        match self {
            Guard::MixedCase => upper && lower,
            Guard::MixedCaseDigit => upper && lower && digit,
            Guard::Random => upper && lower && digit && longest_run >= 16,
        }
    }
}

struct Rule {
    label: &'static str,
    /// The rule runs only if one of these occurs in the text (ASCII case-insensitive); empty =
    /// always. For assignments, the hints of [`SECRET_NAMES`] are added.
    keywords: &'static [&'static str],
    pattern: &'static str,
    action: Action,
}

/// A quoted value (JSON-escaped quotes included) or a bare one; used by the assignment rules.
macro_rules! value {
    () => {
        r#"(?P<value>\\?"(?:[^"\\\n]|\\[^"\n])*\\?"|'(?:[^'\\\n]|\\.)*'|['"]?[^\s"'&,;{}()\[\]<>]+)"#
    };
}

/// The name pattern of the assignment rules: an identifier containing a hint of
/// [`SECRET_NAMES`] (`{hints}` is filled in at start-up).
const NAME: &str = r"[A-Za-z0-9_.-]*(?:{hints})[A-Za-z0-9_.-]*";

/// Order matters: whole blocks and URLs first, then prefixed tokens, then the name-based rules,
/// so that `password=ghp_…` reads `password=[REDACTED:github-token]` and is not cut in two.
const RULES: &[Rule] = &[
    Rule {
        label: "private-key",
        keywords: &["-----begin"],
        pattern: r"(?s)-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        action: Action::Template("[REDACTED:private-key]"),
    },
    // A block cut short (a truncated FailureReason, one log event per line): everything that
    // can be key material after the header goes.
    Rule {
        label: "private-key-unterminated",
        keywords: &["-----begin"],
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=:,\s-]|\\[nrt])*",
        action: Action::Template("[REDACTED:private-key]"),
    },
    Rule {
        label: "webhook-url",
        keywords: &["hooks.slack.com", "discord", "webhook.office.com"],
        pattern: r"(?P<keep>https://(?:hooks\.slack\.com/|(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/|[A-Za-z0-9.-]+\.webhook\.office\.com/))[A-Za-z0-9/@_.+-]+",
        action: Action::Template("${keep}[REDACTED]"),
    },
    // `postgresql://user:pass@host`, `https://x-access-token:…@github.com`, `redis://:pw@h`.
    Rule {
        label: "url-credentials",
        keywords: &["://"],
        pattern: r#"(?i)\b(?P<keep>[a-z][a-z0-9+.-]{1,20}://[^\s/@:'"<>\[\]]*:)[^\s/@'"<>\[\]]+@"#,
        action: Action::Template("${keep}[REDACTED]@"),
    },
    // An access key id followed by its secret (`AKIA… wJalr…`, CSV, `id:secret`).
    Rule {
        label: "aws-key-pair",
        keywords: &["akia", "asia"],
        pattern: r#"\b(?:AKIA|ASIA)[A-Z0-9]{16}(?P<sep>[\s,:;|'"=]{1,4})[A-Za-z0-9/+]{40}(?P<end>[^A-Za-z0-9/+=]|$)"#,
        action: Action::Template(
            "[REDACTED:access-key-id]${sep}[REDACTED:secret-access-key]${end}",
        ),
    },
    Rule {
        label: "aws-access-key-id",
        keywords: &["akia", "asia", "abia", "acca"],
        pattern: r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
        action: Action::Template("[REDACTED:access-key-id]"),
    },
    // STS session tokens: base64 of a protobuf-ish header (`\x01\n\x03aws…`, `!\n\torigin_ec…`).
    Rule {
        label: "aws-session-token",
        keywords: &["aqodyxdz", "fqogzxivyxdz", "fwogzxivyxdz", "iqojb3jpz2lu"],
        pattern: r"\b(?:AQoDYXdz|FQoGZXIvYXdz|FwoGZXIvYXdz|IQoJb3JpZ2lu)[A-Za-z0-9/+=%]{20,}",
        action: Action::Template("[REDACTED:session-token]"),
    },
    // A 40-character secret key after its key words, separated by spaces or punctuation.
    Rule {
        label: "aws-secret-access-key",
        keywords: &["secret"],
        pattern: r"(?i)(?P<keep>secret(?:[ _-]?access)?[ _-]?key[^A-Za-z0-9/+\n]{1,8})(?P<secret>[A-Za-z0-9/+]{40})(?P<end>[^A-Za-z0-9/+=]|$)",
        action: Action::If(
            Guard::MixedCaseDigit,
            "${keep}[REDACTED:secret-access-key]${end}",
        ),
    },
    Rule {
        label: "huggingface-token",
        keywords: &["hf_", "api_org_"],
        pattern: r"\b(?P<secret>(?:hf_|api_org_)[A-Za-z0-9]{30,})\b",
        action: Action::If(Guard::MixedCase, "[REDACTED:huggingface-token]"),
    },
    Rule {
        label: "github-token",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})\b",
        action: Action::Template("[REDACTED:github-token]"),
    },
    Rule {
        label: "gitlab-token",
        keywords: &[
            "glpat-", "gldt-", "glptt-", "glrt-", "glcbt-", "glft-", "glimt-", "gloas-", "glsoat-",
            "glagent-",
        ],
        pattern: r"\bgl(?:pat|dt|ptt|rt|cbt|ft|imt|oas|soat|agent)-[A-Za-z0-9_.-]{20,}",
        action: Action::Template("[REDACTED:gitlab-token]"),
    },
    Rule {
        label: "slack-token",
        keywords: &["xox", "xapp-"],
        pattern: r"\b(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,})",
        action: Action::Template("[REDACTED:slack-token]"),
    },
    // OpenAI (`sk-…`, `sk-proj-…`, `sk-svcacct-…`) and Anthropic (`sk-ant-api03-…`). Job
    // names such as `sk-classifier-2024-01-01` are not random enough to match.
    Rule {
        label: "api-key",
        keywords: &["sk-"],
        pattern: r"\b(?P<secret>sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)[0-9]{2}-)?[A-Za-z0-9_-]{20,})",
        action: Action::If(Guard::Random, "[REDACTED:api-key]"),
    },
    Rule {
        label: "stripe-key",
        keywords: &["sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"],
        pattern: r"\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})\b",
        action: Action::Template("[REDACTED:stripe-key]"),
    },
    Rule {
        label: "google-key",
        keywords: &["aiza", "gocspx-", "ya29."],
        pattern: r"\b(?:AIza[0-9A-Za-z_-]{35}|GOCSPX-[A-Za-z0-9_-]{28}|ya29\.[0-9A-Za-z_-]{20,})",
        action: Action::Template("[REDACTED:google-key]"),
    },
    Rule {
        label: "package-token",
        keywords: &["npm_", "pypi-", "dapi", "sg."],
        pattern: r"\b(?:npm_[A-Za-z0-9]{36}|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}|dapi[a-f0-9]{32}(?:-[0-9])?|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})\b",
        action: Action::Template("[REDACTED:token]"),
    },
    // JWTs with or without `Bearer` (`eyJ` is base64 of `{"`).
    Rule {
        label: "jwt",
        keywords: &["eyj"],
        pattern: r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
        action: Action::Template("[REDACTED:jwt]"),
    },
    // HTTP authorization headers, also as quoted dict/JSON entries
    // (`'Authorization': 'Bearer …'`, `"Authorization": "Basic …"`).
    Rule {
        label: "authorization",
        keywords: &["authorization"],
        pattern: r#"(?i)\b(?P<keep>Authorization['"]?\s*[:=]\s*['"]?\s*(?:Bearer|Basic|Token|Digest|AWS4-HMAC-SHA256)?\s*)[^\s"',;\[]+(?:\s*,\s*[A-Za-z]+=[^\s"',;]+)*"#,
        action: Action::Template("${keep}[REDACTED]"),
    },
    // A bearer token anywhere else (`headers = … Bearer abc…`).
    Rule {
        label: "bearer-token",
        keywords: &["bearer"],
        pattern: r"\b(?P<keep>Bearer\s+)[A-Za-z0-9._~+/=-]{8,}",
        action: Action::Template("${keep}[REDACTED]"),
    },
    // argv as Python prints it: `Command "['python', 'train.py', '--hf_token', 'hf_…']"`,
    // and as JSON: `["--db_url","postgresql://…"]`.
    Rule {
        label: "argv-list",
        keywords: &["--"],
        pattern: concat!(
            r#"(?P<name>--[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>\\?['"],\s*\\?['"])"#,
            r#"(?P<value>(?:[^'"\\\n]|\\[^'"\n])*)"#
        ),
        action: Action::Assignment,
    },
    // argv as a shell line: `train.py --epochs 3 --password "a b" --hf_token hf_…`.
    Rule {
        label: "argv",
        keywords: &["--"],
        pattern: concat!(
            r#"(?P<name>--[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>[ \t]+)"#,
            r#"(?P<value>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\s"'\-][^\s"']*)"#
        ),
        action: Action::Assignment,
    },
    // `password=…`, `db_password: …`, `"api_key": "…"`, `Namespace(hf_token='…')`,
    // `export WANDB_API_KEY='…'`, `AccountKey=…;`, `?sig=…&`, `X-Amz-Credential=…`.
    Rule {
        label: "assignment",
        keywords: &[],
        pattern: concat!(
            // A bare `:` needs a blank after it, so `arn:aws:secretsmanager:…` is not an assignment.
            r#"(?P<name>{name})(?P<sep>\\?['"][ \t]*[=:][ \t]*|[ \t]*=[ \t]*|[ \t]*:[ \t]+)"#,
            value!()
        ),
        action: Action::Assignment,
    },
];

struct Compiled {
    rules: Vec<(&'static Rule, Regex)>,
    /// keyword index → rule indexes; `always` rules have no keywords.
    keywords: Option<AhoCorasick>,
    keyword_rules: Vec<Vec<usize>>,
    always: Vec<usize>,
    /// The assignment rule alone, for nested values.
    assignment: Option<Regex>,
}

/// Every hint of [`SECRET_NAMES`], longest first, deduplicated.
fn name_hints() -> Vec<&'static str> {
    let mut hints: Vec<&'static str> = SECRET_NAMES.iter().flat_map(NameRule::hints).collect();
    hints.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    hints.dedup();
    hints
}

/// `key`, `KEY`, `Key`: the spellings names use (`api_key`, `API_KEY`, `apiKey`). Listing
/// them instead of `(?i)` keeps the set small enough for the regex's literal prefilter,
/// which makes the assignment rule several times faster on long logs.
fn hint_spellings(hints: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for h in hints {
        let capitalised = h
            .get(..1)
            .map(|first| first.to_ascii_uppercase() + &h[1..])
            .unwrap_or_default();
        for spelling in [h.to_string(), h.to_ascii_uppercase(), capitalised] {
            if !spelling.is_empty() && !out.contains(&spelling) {
                out.push(spelling);
            }
        }
    }
    out
}

/// The lazy DFA cannot evaluate a Unicode `\b`; logs are ASCII where secrets are.
fn ascii_boundaries(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let hints = name_hints();
    let name = NAME.replace("{hints}", &hint_spellings(&hints).join("|"));
    let mut rules = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
    let mut always = Vec::new();
    let mut assignment = None;
    for rule in RULES {
        let pattern = ascii_boundaries(&rule.pattern.replace("{name}", &name));
        let re = match Regex::new(&pattern) {
            Ok(re) => re,
            Err(e) => {
                // A broken pattern is a bug caught by the unit tests; never panic at run time.
                tracing::error!(rule = rule.label, error = %e, "redaction pattern does not compile");
                continue;
            }
        };
        let index = rules.len();
        if rule.label == "assignment" {
            assignment = Some(re.clone());
        }
        let mut kws: Vec<&str> = rule.keywords.to_vec();
        if matches!(rule.action, Action::Assignment) && kws.is_empty() {
            kws.extend(hints.iter().copied());
        }
        if kws.is_empty() {
            always.push(index);
        }
        for kw in kws {
            match words.iter().position(|w| w == kw) {
                Some(k) => keyword_rules[k].push(index),
                None => {
                    words.push(kw.to_owned());
                    keyword_rules.push(vec![index]);
                }
            }
        }
        rules.push((rule, re));
    }
    let keywords = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&words)
        .map_err(|e| tracing::error!(error = %e, "redaction keywords do not compile"))
        .ok();
    if keywords.is_none() {
        // Without the prefilter every rule runs: slower, never weaker.
        always = (0..rules.len()).collect();
        keyword_rules.clear();
    }
    Compiled {
        rules,
        keywords,
        keyword_rules,
        always,
        assignment,
    }
});

/// Values that are already redacted or are an auth scheme word left by the header rule.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim_matches(|c| c == '"' || c == '\'' || c == '\\');
    v.is_empty()
        || v.starts_with("[REDACTED")
        || ["bearer", "basic", "token", "digest"]
            .iter()
            .any(|w| v.eq_ignore_ascii_case(w))
}

/// `name<sep>value` → `name<sep>[REDACTED]` (quotes kept) when the name is secret; otherwise
/// the value is scanned again, so `config='{"password": "x"}'` still loses `x`. `None`: keep.
fn assignment(
    re: &Regex,
    text: &str,
    m: regex::Match<'_>,
    nested: Option<&Regex>,
    depth: usize,
) -> Option<String> {
    // Most matches are `path=/x`, `key=m/1`, `--epochs 3`: decided without captures.
    let whole = m.as_str();
    let name_end = whole
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .unwrap_or(whole.len());
    let secret = is_secret_name(&whole[..name_end]);
    let may_nest = whole[name_end..]
        .trim_start_matches(['\\', '"', '\'', ' ', '\t', '=', ':', ','])
        .contains(['=', ':']);
    if !secret && (!may_nest || nested.is_none()) {
        return None;
    }
    let caps = re.captures_at(text, m.start())?;
    if caps.get(0).map(|c| c.range()) != Some(m.range()) {
        return None;
    }
    let (name, sep, value) = (caps.name("name")?, caps.name("sep")?, caps.name("value")?);
    let (name, sep, value) = (name.as_str(), sep.as_str(), value.as_str());
    if secret {
        if is_placeholder(value) {
            return None;
        }
        let quote = ["\\\"", "\"", "'"]
            .into_iter()
            .find(|q| value.len() >= 2 * q.len() && value.starts_with(q) && value.ends_with(q))
            .unwrap_or("");
        return Some(format!("{name}{sep}{quote}{REDACTED}{quote}"));
    }
    let inner_re = nested.filter(|_| depth < 4)?;
    match replace_where(inner_re, value, |v, m| {
        assignment(inner_re, v, m, Some(inner_re), depth + 1)
    }) {
        Cow::Owned(inner) => Some(format!("{name}{sep}{inner}")),
        Cow::Borrowed(_) => None,
    }
}

/// Like `Regex::replace_all`, but `f(text, match)` may keep a match (`None`) and computes
/// captures only when it needs them; text in which nothing changed stays borrowed.
fn replace_where<'t>(
    re: &Regex,
    text: &'t str,
    mut f: impl FnMut(&str, regex::Match<'_>) -> Option<String>,
) -> Cow<'t, str> {
    let mut out = String::new();
    let mut last = 0;
    let mut changed = false;
    for m in re.find_iter(text) {
        match f(text, m) {
            Some(replacement) if replacement != m.as_str() => {
                out.push_str(&text[last..m.start()]);
                out.push_str(&replacement);
                last = m.end();
                changed = true;
            }
            _ => {}
        }
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

fn apply<'t>(rule: &Rule, re: &Regex, nested: Option<&Regex>, text: &'t str) -> Cow<'t, str> {
    match rule.action {
        Action::Template(template) => re.replace_all(text, template),
        Action::If(guard, template) => replace_where(re, text, |t, m| {
            let caps = re.captures_at(t, m.start())?;
            let secret = caps.name("secret").map_or("", |s| s.as_str());
            guard.passes(secret).then(|| {
                let mut out = String::new();
                caps.expand(template, &mut out);
                out
            })
        }),
        Action::Assignment => replace_where(re, text, |t, m| assignment(re, t, m, nested, 0)),
    }
}

/// Above this size the keyword pass costs more than it saves: every rule's regex has its
/// own literal prefilter, and a long log contains most keywords anyway.
const PREFILTER_MAX_BYTES: usize = 64 * 1024;

/// Redacts every secret shape in free text (log lines, failure reasons, request parameters).
pub fn redact(text: &str) -> Cow<'_, str> {
    let compiled = &*COMPILED;
    let mut run = vec![false; compiled.rules.len()];
    for &i in &compiled.always {
        run[i] = true;
    }
    if text.len() > PREFILTER_MAX_BYTES {
        run.iter_mut().for_each(|r| *r = true);
    } else if let Some(ac) = &compiled.keywords {
        for m in ac.find_overlapping_iter(text) {
            for &i in &compiled.keyword_rules[m.pattern().as_usize()] {
                run[i] = true;
            }
            if run.iter().all(|r| *r) {
                break;
            }
        }
    }
    let mut out = Cow::Borrowed(text);
    for (i, (rule, re)) in compiled.rules.iter().enumerate() {
        if !run[i] {
            continue;
        }
        let replaced = match apply(rule, re, compiled.assignment.as_ref(), &out) {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        };
        if let Some(s) = replaced {
            out = Cow::Owned(s);
        }
    }
    out
}

/// Error text that leaves a function (SDK errors, unparseable responses): redacted, then cut
/// to at most `max_bytes` on a character boundary, with a marker saying how long it was.
/// Redaction comes first: cutting first could leave half a secret that no rule recognises.
pub fn bounded(text: &str, max_bytes: usize) -> String {
    let clean = redact(text);
    if clean.len() <= max_bytes {
        return clean.into_owned();
    }
    let marker = format!("…[truncated, {} bytes]", clean.len());
    let budget = max_bytes.saturating_sub(marker.len());
    let mut cut = budget.min(clean.len());
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    if marker.len() > max_bytes {
        // No room for the marker: the bare cut is still bounded.
        let mut cut = max_bytes;
        while !clean.is_char_boundary(cut) {
            cut -= 1;
        }
        return clean[..cut].to_owned();
    }
    format!("{}{marker}", &clean[..cut])
}

/// Hyperparameters / environment: values of secret-looking names are replaced, the others are
/// still scanned for secret shapes.
pub fn redact_map(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| {
            let value = if is_secret_name(k) {
                REDACTED.to_owned()
            } else {
                redact(v).into_owned()
            };
            (k.clone(), value)
        })
        .collect()
}

/// Redacts every string inside a JSON value (CloudTrail request parameters); values under
/// secret-looking keys are replaced whole.
pub fn redact_json(value: &mut serde_json::Value) {
    redact_json_with(value, &|s| redact(s));
}

fn redact_json_with(
    value: &mut serde_json::Value,
    redact_text: &dyn for<'t> Fn(&'t str) -> Cow<'t, str>,
) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(r) = redact_text(s) {
                *s = r;
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| redact_json_with(v, redact_text)),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if !is_secret_name(k) {
                    redact_json_with(v, redact_text);
                    continue;
                }
                match v {
                    Value::Null => {}
                    // `"credentials": {"user": …, "password": …}`: the names inside decide.
                    Value::Object(_) => redact_json_with(v, redact_text),
                    // `"api_keys": ["…", "…"]`: every scalar is a secret.
                    Value::Array(items) => {
                        for item in items {
                            if item.is_object() || item.is_array() {
                                redact_json_with(item, redact_text);
                            } else if !item.is_null() {
                                *item = Value::from(REDACTED);
                            }
                        }
                    }
                    _ => *v = Value::from(REDACTED),
                }
            }
        }
        _ => {}
    }
}

// ---- Known values -------------------------------------------------------------------------

/// The exact secret values of one job (its secret-named hyperparameters and environment
/// variables, from Describe*Job), replaced wherever they appear in text, in whatever shape:
/// `train.py --db_url postgresql://u:p@h/db` and a traceback quoting the password alone both
/// lose it. Also the URL-encoded and JSON-escaped spellings.
#[derive(Debug, Default)]
pub struct KnownSecrets {
    values: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl KnownSecrets {
    /// Shorter values are not kept: replacing `True` or `abc` everywhere would shred the text.
    pub const MIN_LEN: usize = 6;

    /// From (name, value) pairs: keeps values whose name [`is_secret_name`], and values that
    /// carry a secret shape themselves (`"db": "postgresql://u:p@h/db"`).
    pub fn new<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut values: Vec<String> = Vec::new();
        for (name, value) in pairs {
            let value = value.trim();
            if value.len() < Self::MIN_LEN || is_placeholder(value) {
                continue;
            }
            if is_secret_name(name) || matches!(redact(value), Cow::Owned(_)) {
                for spelling in spellings(value) {
                    if !values.contains(&spelling) {
                        values.push(spelling);
                    }
                }
            }
        }
        let matcher = if values.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&values)
                .map_err(|e| tracing::error!(error = %e, "known secrets do not compile"))
                .ok()
        };
        KnownSecrets { values, matcher }
    }

    /// From string maps (hyperparameters, environment).
    pub fn from_maps<'a>(maps: impl IntoIterator<Item = &'a BTreeMap<String, String>>) -> Self {
        Self::new(
            maps.into_iter()
                .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// How many spellings are searched for (each value counts once per distinct spelling).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Replaces the known values only.
    pub fn redact_known<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.values.is_empty() {
            return Cow::Borrowed(text);
        }
        match &self.matcher {
            Some(ac) => {
                if ac.find(text).is_none() {
                    return Cow::Borrowed(text);
                }
                Cow::Owned(ac.replace_all(text, &vec![REDACTED; self.values.len()]))
            }
            // The matcher failed to build: slower, never weaker.
            None => {
                let mut out = Cow::Borrowed(text);
                let mut sorted: Vec<&String> = self.values.iter().collect();
                sorted.sort_by_key(|v| std::cmp::Reverse(v.len()));
                for v in sorted {
                    if out.contains(v.as_str()) {
                        out = Cow::Owned(out.replace(v.as_str(), REDACTED));
                    }
                }
                out
            }
        }
    }

    /// Known values, then every secret shape ([`redact`]).
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.redact_known(text) {
            Cow::Borrowed(t) => redact(t),
            Cow::Owned(s) => Cow::Owned(redact(&s).into_owned()),
        }
    }

    /// [`redact_json`] plus the known values.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        redact_json_with(value, &|s| self.redact(s));
    }
}

/// The spellings a value takes in logs: as is, URL-encoded (query strings, connection
/// URLs), form-encoded, and JSON-escaped.
fn spellings(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    let url = percent_encode(value, false);
    let form = percent_encode(value, true);
    let json = serde_json::to_string(value)
        .map(|s| s.trim_matches('"').to_owned())
        .unwrap_or_default();
    for s in [url, form, json] {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn percent_encode(value: &str, form: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(COMPILED.rules.len(), RULES.len());
        assert!(COMPILED.keywords.is_some());
        assert!(COMPILED.assignment.is_some());
    }

    #[test]
    fn name_parts_split_humps_and_separators() {
        assert_eq!(name_parts("WANDB_API_KEY"), ["wandb", "api", "key"]);
        assert_eq!(name_parts("wandbApiKey"), ["wandb", "api", "key"]);
        assert_eq!(name_parts("AWSSecretKey"), ["aws", "secret", "key"]);
        assert_eq!(
            name_parts("X-Amz-Security-Token"),
            ["x", "amz", "security", "token"]
        );
        assert_eq!(name_parts("--hf_token"), ["hf", "token"]);
        assert!(name_parts("--").is_empty());
    }

    #[test]
    fn secrets_in_log_lines() {
        let cases = [
            ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
            ("temp ASIAY34FZKBOKMUTVV7A here", "ASIAY34FZKBOKMUTVV7A"),
            ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
            ("connecting with password=hunter2&user=bob", "hunter2"),
            ("db_password: s3cr3t!", "s3cr3t!"),
            ("{\"api_key\": \"abc123def\"}", "abc123def"),
            ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGci"),
            ("HF_TOKEN=hf_abcdefghijklmnop", "hf_abcdefghijklmnop"),
            ("Namespace(epochs=3, hf_token='hf_quotedsecret1')", "hf_quotedsecret1"),
            ("{'password': 'quoted-pw-1', 'user': 'bob'}", "quoted-pw-1"),
            ("export WANDB_API_KEY='wandb-quoted-2'", "wandb-quoted-2"),
            (r#"{"Authorization": "Bearer eyJquotedjson.e30.sig"}"#, "eyJquotedjson"),
            ("headers={'Authorization': 'Bearer eyJdictform.e30.sig'}", "eyJdictform"),
            ("requests.get(url, headers=h) # Bearer abcdefghijklmnopq", "abcdefghijklmnopq"),
            (
                "GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101%2Fus-east-1&X-Amz-Signature=deadbeef00&X-Amz-Security-Token=FwoGZXIvYXdz",
                "deadbeef00",
            ),
        ];
        for (line, secret) in cases {
            let out = redact(line);
            assert!(!out.contains(secret), "{line} -> {out}");
            assert!(out.contains("REDACTED"), "{out}");
        }
        let url = redact(
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2Fx&X-Amz-Security-Token=tok",
        );
        assert!(!url.contains("tok") && !url.contains("AKIA%2Fx"), "{url}");
    }

    #[test]
    fn ordinary_lines_are_untouched() {
        for line in [
            "Epoch 3: train_loss=0.41 val_loss=0.52",
            "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
            "s3://my-bucket/data/train.csv not found",
            "Setting `pad_token_id` to `eos_token_id`:2 for open-end generation.",
            "max_tokens=512 tokenizer_name=bert-base-uncased",
        ] {
            assert!(
                matches!(redact(line), Cow::Borrowed(_)),
                "{line} -> {}",
                redact(line)
            );
        }
    }

    #[test]
    fn nested_assignment_in_a_plain_value_is_found() {
        let out = redact(r#"config='{"password": "pw-nested-1"}' epochs=3"#);
        assert!(!out.contains("pw-nested-1"), "{out}");
        assert!(out.contains("epochs=3"), "{out}");
    }

    #[test]
    fn secret_hyperparameters_and_json() {
        let hp: BTreeMap<String, String> = [
            ("learning_rate", "0.1"),
            ("wandb_api_key", "k-123"),
            ("db_password", "pw"),
            ("note", "token=abc"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let r = redact_map(&hp);
        assert_eq!(r["learning_rate"], "0.1");
        assert_eq!(r["wandb_api_key"], REDACTED);
        assert_eq!(r["db_password"], REDACTED);
        assert_eq!(r["note"], "token=[REDACTED]");
        let mut v = json!({"hyperParameters": {"hf_token": "x", "epochs": "3"}, "url": "u?X-Amz-Signature=abc"});
        redact_json(&mut v);
        assert_eq!(v["hyperParameters"]["hf_token"], REDACTED);
        assert_eq!(v["hyperParameters"]["epochs"], "3");
        assert_eq!(v["url"], "u?X-Amz-Signature=[REDACTED]");
        let mut v = json!({"api_keys": ["k1", {"note": "password=pw-in-list"}, null], "credentials": {"user": "bob", "password": "pw"}});
        redact_json(&mut v);
        assert_eq!(
            v["api_keys"],
            json!([REDACTED, {"note": "password=[REDACTED]"}, null])
        );
        assert_eq!(
            v["credentials"],
            json!({"user": "bob", "password": REDACTED})
        );
    }

    #[test]
    fn bounded_redacts_then_cuts_on_a_char_boundary() {
        let text = format!("password=hunter2 {}", "é".repeat(500));
        for max in [0, 1, 5, 20, 40, 41, 64, 200, 2000] {
            let out = bounded(&text, max);
            assert!(out.len() <= max, "{max}: {} bytes", out.len());
            assert!(!out.contains("hunter2"), "{out}");
        }
        let out = bounded(&text, 200);
        assert!(
            out.ends_with(&format!("…[truncated, {} bytes]", redact(&text).len())),
            "{out}"
        );
        assert!(out.starts_with("password=[REDACTED]"), "{out}");
        assert_eq!(bounded("short", 100), "short");
    }

    #[test]
    fn known_values_in_every_spelling() {
        let known = KnownSecrets::new([
            ("db_password", "p@ss w0rd/x"),
            ("epochs", "3"),
            ("wandb_api_key", "short"),
            ("learning_rate", "0.0001"),
        ]);
        assert!(!known.is_empty());
        let text = "login p@ss w0rd/x failed; url=postgres://u:p%40ss%20w0rd%2Fx@h/db form=p%40ss+w0rd%2Fx lr 0.0001";
        let out = known.redact_known(text);
        assert!(!out.contains("w0rd"), "{out}");
        assert!(out.contains("lr 0.0001"), "{out}");
        assert!(matches!(
            known.redact_known("nothing here"),
            Cow::Borrowed(_)
        ));
        assert!(KnownSecrets::new([("epochs", "300000")]).is_empty());
    }
}
