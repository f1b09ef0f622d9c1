//! The classification rules: one data table, compiled once into a `RegexSet`.
//!
//! Each rule: (category, priority, pattern, hint). Higher priority wins; a match in the
//! FailureReason outranks the same priority in the logs, and a later log line outranks an earlier
//! one. Generic signals (a Python exception name) have low priority so that a specific signal
//! anywhere (CUDA out of memory, `SM_CHANNEL_…`, NoSuchKey) decides.

use super::Category::{self, *};

pub struct Rule {
    pub category: Category,
    pub priority: u8,
    pub pattern: &'static str,
    pub hint: &'static str,
    /// A line containing any of these does not count for this rule (the `regex` crate has no
    /// look-around): SageMaker's and the SDK's wrappers look like exceptions but say nothing.
    pub unless: &'static [&'static str],
}

const fn rule(category: Category, priority: u8, pattern: &'static str, hint: &'static str) -> Rule {
    Rule {
        category,
        priority,
        pattern,
        hint,
        unless: &[],
    }
}

const WRAPPERS: &[&str] = &[
    "ExecuteUserScriptError",
    "UnexpectedStatusException",
    "Error for Training job",
    "Error for Processing job",
    "Error for Transform job",
    "Reason: AlgorithmError",
];

const HINT_OOM: &str = "The job ran out of memory{instance}. Use an instance type with more (GPU) memory, lower the batch size or sequence length, or use gradient checkpointing / mixed precision.";
const HINT_GPU: &str = "A GPU or collective-communication (NCCL) error{instance}. Check driver/CUDA compatibility of the image, set NCCL_DEBUG=INFO for details, and retry: hardware faults (ECC, Xid) are usually transient.";
const HINT_HP: &str = "A hyperparameter{hyperparameter} is invalid for this algorithm or container. Compare the job's HyperParameters with the algorithm's documented names and value ranges.";
const HINT_DATA: &str = "The input data does not have the format the algorithm expects. Check content type, delimiter, label column and record size of the channel data{s3_uri}.";
const HINT_MISSING: &str = "Input data is missing or not readable{s3_uri}. Check the S3 URI, that objects exist under the prefix, the channel names the script reads (SM_CHANNEL_*), and that the execution role may read the bucket (and its KMS key).";
const HINT_PERMISSION: &str = "A permission is missing. Check the execution role's trust policy (sagemaker.amazonaws.com) and that it allows the named action, KMS key and ECR repository.";
const HINT_IMAGE: &str = "The container image cannot be pulled or started. Check the image URI and tag exist in ECR in this region, the execution role may pull it, the image's architecture matches the instance, and its entry point (train/serve) is executable.";
const HINT_CODE: &str = "The training script raised an exception. The evidence shows the last exception of the traceback; fix the script or its dependencies (requirements.txt) and rerun.";
const HINT_CAPACITY: &str = "A capacity or quota limit was hit{instance}. Request a Service Quotas increase, use another instance type or region, or retry later (managed spot or flexible training plans help with scarce GPUs).";
const HINT_DISK: &str = "A disk filled up. Increase VolumeSizeInGB, write checkpoints and outputs to /opt/ml/checkpoints or S3 instead of local disk, or use FastFile/Pipe input mode.";
const HINT_TIMEOUT: &str = "The job or its container took longer than allowed. Raise MaxRuntimeInSeconds (or the model server's worker timeout for transform), or make each step faster; use checkpoints to resume.";
const HINT_INTERNAL: &str = "SageMaker reported an internal error. This is usually transient: retry the job; if it recurs, open a support case with the job ARN.";

pub const RULES: &[Rule] = &[
    // --- disk full: decisive even inside "Data download failed: …"
    rule(
        DiskFull,
        95,
        r"(?i)no space left on device|insufficient disk space|disk quota exceeded|\bENOSPC\b",
        HINT_DISK,
    ),
    // --- out of memory
    rule(
        OutOfMemory,
        90,
        r"(?i)CUDA out of memory|OutOfMemoryError|\bout[_ ]of[_ ]memory\b|std::bad_alloc|\bMemoryError\b|Cannot allocate memory|OOM when allocating|Memory allocation error",
        HINT_OOM,
    ),
    rule(
        OutOfMemory,
        75,
        r"(?i)exit ?code:? ?137\b|exitcode:? ?137\b|\bsignal:? ?(?:9|SIGKILL)\b|SIGKILL: 9|died with <Signals\.SIGKILL|out of shared memory|\bOOMKilled\b",
        HINT_OOM,
    ),
    // --- GPU / NCCL
    rule(
        GpuError,
        85,
        r"(?i)\bNCCL error|ncclCommInitRank failed|ncclSystemError|ncclInternalError|ncclUnhandledCudaError|ProcessGroupNCCL",
        HINT_GPU,
    ),
    rule(
        GpuError,
        82,
        r"(?i)CUDA error|cuDNN error|CUDNN_STATUS_\w+|ECC error|device-side assert|no CUDA-capable device|CUDA driver version is insufficient|\bXid\b|_cuInit|cudaErrorIllegalAddress",
        HINT_GPU,
    ),
    // --- image problems
    rule(
        ImageError,
        88,
        r"(?i)Cannot pull algorithm container|manifest (?:for \S+ )?(?:unknown|not found)|Cannot find the requested image|Invalid training image|Cannot find repository|exec format error|executable file not found|exec (?:train|serve) failed|CannotPullContainerError|image does not exist",
        HINT_IMAGE,
    ),
    // --- hyperparameters
    rule(
        InvalidHyperparameter,
        88,
        r"Additional properties are not allowed \('[^']+' was unexpected\)",
        HINT_HP,
    ),
    rule(
        InvalidHyperparameter,
        85,
        r"(?i)is not valid under any of the given schemas|required hyperparameter|Hyperparameter must be valid json|Hyperparameter [\w:.-]+: .* is not in|invalid hyperparameter|hyperparameter_validation|Do not need to setup parameter",
        HINT_HP,
    ),
    // --- data format
    rule(
        DataFormat,
        80,
        r"cannot copy sequence with size \d+ to array axis with dimension \d+",
        HINT_DATA,
    ),
    rule(
        DataFormat,
        72,
        r"(?i)Unable to parse csv|Could not determine delimiter|Blankspace and colon not found|JSON Parse error|Invalid escape character|could not convert string to float|Error tokenizing data|UnicodeDecodeError|Request Entity Too Large|ClientError: 413|Received message larger than max|No Label values are present|Payload too large",
        HINT_DATA,
    ),
    // --- data missing or access
    rule(
        DataMissingOrAccess,
        85,
        r#"(?i)No S3 objects found under S3 URL|NoSuchKey|NoSuchBucket|The specified (?:key|bucket) does not exist"#,
        HINT_MISSING,
    ),
    rule(
        DataMissingOrAccess,
        80,
        r"(?i)Data download failed|Failed to download data|Unable to download object|ListObjectsV2 failed|\bSM_CHANNEL_\w+|no file found in path /opt/ml/input|No such file or directory: '/opt/ml/input|(?:HeadObject|GetObject|ListObjects\w*) operation: (?:Forbidden|Access Denied)",
        HINT_MISSING,
    ),
    // --- permissions (IAM, STS, KMS, marketplace)
    rule(
        Permission,
        80,
        r"(?i)unable to assume the role|Could not assume role|unable to perform: sts:AssumeRole|is not authorized to perform|AccessDeniedException|not subscribed to the marketplace|KMS\w*Exception|kms:\w+.*denied",
        HINT_PERMISSION,
    ),
    // --- capacity and limits
    rule(
        CapacityOrLimit,
        85,
        r"(?i)ResourceLimitExceeded|CapacityError|Unable to provision requested ML compute capacity|InsufficientInstanceCapacity|account-level service limit|ThrottlingException|Rate exceeded",
        HINT_CAPACITY,
    ),
    // --- timeouts
    rule(
        Timeout,
        80,
        r"(?i)MaxRuntimeExceeded|reached (?:the )?max(?:imum)? ?runtime|did not respond in given time|upstream timed out|WORKER TIMEOUT|Worker timeout|deadline exceeded|timed out after \d+",
        HINT_TIMEOUT,
    ),
    // --- SageMaker internal
    rule(
        InternalError,
        78,
        r"(?i)InternalServerError|We encountered an internal error|\(500\) when calling|Internal Server Error|InternalFailure",
        HINT_INTERNAL,
    ),
    // --- user code: the last Python exception, or a missing module / attribute
    rule(
        UserCodeError,
        45,
        r"(?i)No module named|ModuleNotFoundError|ImportError|has no attribute '\w+'",
        HINT_CODE,
    ),
    Rule {
        unless: WRAPPERS,
        ..rule(
            UserCodeError,
            35,
            r"(?m)^\s*(?:[\w.]+\.)?(?:[A-Z]\w*(?:Error|Exception))(?::|,\s*exit code)",
            HINT_CODE,
        )
    },
    rule(
        UserCodeError,
        30,
        r"(?i)Segmentation fault|SIGSEGV|exit ?code:? ?139\b",
        HINT_CODE,
    ),
];
