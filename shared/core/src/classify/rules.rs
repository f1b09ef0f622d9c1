//! The classification rules: one data table, compiled once into a `RegexSet`.
//!
//! Each rule: (category, priority, pattern, hint). Higher priority wins; a match in the
//! FailureReason outranks the same priority in the logs, and a later log line outranks an earlier
//! one. Generic signals (a Python exception name) have low priority so that a specific signal
//! anywhere (CUDA out of memory, `SM_CHANNEL_…`, NoSuchKey) decides; symptoms (a failed ping
//! health check) rank below the causes that produce them (OOM while loading, a timed-out
//! `/ping`). Rules of category `Unknown` name texts that look like evidence but are not (a
//! model container's bare 500): they outrank only the generic rules, so the answer stays
//! `unknown` unless a real cause is present.

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

/// Exception names that only carry another message (SDK, toolkit and transport wrappers): a
/// line holding one says nothing by its class, so the generic exception rule skips it.
const WRAPPERS: &[&str] = &[
    "ExecuteUserScriptError",
    "UnexpectedStatusException",
    "Error for Training job",
    "Error for Processing job",
    "Error for Transform job",
    "Error training ",
    "Error hosting endpoint",
    "Reason: AlgorithmError",
    "ClientError",
    "ModelError",
    "EventStreamError",
    "FailedStatusError",
    "CustomerError",
    "Customer Error",
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
    // --- disk full: decisive even inside "Data download failed: …" or a Docker 500
    rule(
        DiskFull,
        95,
        r"(?i)no space left on device|insufficient disk space|disk quota exceeded|\bENOSPC\b|\bErrno 28\b|kind: StorageFull",
        HINT_DISK,
    ),
    // --- out of memory (host, GPU, Neuron device memory)
    rule(
        OutOfMemory,
        90,
        r"(?i)CUDA out of memory|OutOfMemoryError|OutOfMemoryException|\bout[_ ]of[_ ]memory\b|std::bad_alloc|\bMemoryError\b|Cannot allocate memory|OOM when allocating|Memory allocation error",
        HINT_OOM,
    ),
    rule(
        OutOfMemory,
        84,
        r#"(?i)message="Allocation Failure"|Failed to alloc(?:ate)? DEVICE memory"#,
        HINT_OOM,
    ),
    rule(
        OutOfMemory,
        75,
        r"(?i)exit ?code:? ?137\b|exitcode:? ?137\b|status code:? ?137\b|return code = -9\b|\bsignal:? ?(?:9|SIGKILL)\b|SIGKILL: 9|died with <Signals\.SIGKILL|out of shared memory|\bOOMKilled\b",
        HINT_OOM,
    ),
    // A line that is only "Killed": the kernel's OOM killer as a shell reports it.
    rule(OutOfMemory, 75, r"(?m)^[ \t*]*Killed[ \t*]*$", HINT_OOM),
    // --- GPU / NCCL / EFA / Neuron runtime
    rule(
        GpuError,
        85,
        r"(?i)\bNCCL error|ncclCommInitRank failed|ncclSystemError|ncclInternalError|ncclUnhandledCudaError|ProcessGroupNCCL|NCCL WARN|NET/OFI|aws-ofi-nccl|Watchdog caught collective operation timeout",
        HINT_GPU,
    ),
    rule(
        GpuError,
        82,
        r"(?i)CUDA error|cuDNN error|CUDNN_STATUS_\w+|CUDA_ERROR_\w+|cudaError\w+|illegal memory access|no kernel image is available|kernel image is invalid|unable to find an engine|ECC error|device-side assert|no CUDA-capable device|CUDA driver version is insufficient|\bXid\b|_cuInit|ENCD:\w+|failed to init \w+ resources",
        HINT_GPU,
    ),
    // --- image problems
    rule(
        ImageError,
        88,
        r"(?i)Cannot pull algorithm container|manifest (?:for \S+ )?(?:unknown|not found)|Cannot find the requested image|Invalid training image|Cannot find repository|exec format error|executable file not found|CannotPullContainerError|image does not exist|Please make sure all images included in the model|error while loading shared libraries|No such file or directory: '(?:nginx|serve|train|gunicorn)'|connect\(\) to unix:/tmp/gunicorn\.sock failed|did not specify the required Content-Length|Invalid region \S+ in image URI",
        HINT_IMAGE,
    ),
    // Apart, so that the many lines holding " failed" run only this small pattern.
    rule(
        ImageError,
        88,
        r"(?i)exec (?:train|serve) failed",
        HINT_IMAGE,
    ),
    // The serving container never became healthy: a symptom, below the causes that lead to it.
    rule(
        ImageError,
        60,
        r#"(?i)did not pass the ping health check|failed to respond to ping|GET /ping HTTP/1\.[01]" [45]\d\d"#,
        HINT_IMAGE,
    ),
    // --- hyperparameters (built-in algorithms, containers, and script arguments)
    rule(
        InvalidHyperparameter,
        88,
        r"(?i)Additional properties are not allowed",
        HINT_HP,
    ),
    rule(
        InvalidHyperparameter,
        85,
        r"(?i)is not valid under any of the given schemas|required hyperparameter|Hyperparameter must be valid json|Hyperparameter [\w:.-]+: .* is not in|invalid hyperparameter|hyperparameter_validation|Do not need to setup parameter|hyperParameters' failed to satisfy constraint|Invalid parameter value '\w+'|self\.hyperparameters\[|must be (?:bigger|greater|smaller|less) (?:than )?or equal to the \w+",
        HINT_HP,
    ),
    // The script's own argument parser rejects what the job passed as hyperparameters.
    rule(
        InvalidHyperparameter,
        70,
        r"(?i)unrecognized arguments|arguments are not used by the HfArgumentParser|the following arguments are required|error: argument -{1,2}[\w-]+: invalid",
        HINT_HP,
    ),
    // --- data format
    rule(
        DataFormat,
        80,
        r"(?i)cannot copy sequence with size \d+ to array axis",
        HINT_DATA,
    ),
    rule(
        DataFormat,
        72,
        r"(?i)Unable to parse csv|Could not determine delimiter|Blankspace and colon not found|JSON Parse error|Invalid escape character|could not convert string to float|Error tokenizing data|UnicodeDecodeError|Request Entity Too Large|ClientError: 413|Received message larger than max|No Label values are present|Payload too large|Unable to evaluate payload|Unsupported Media Type|UnsupportedFormatError|(?:Content|Accept) type \S+ is not supported|Failed to process element|Failed to load libsvm|libsvm format|Failed to parse output|Non-numeric value|Matrix size-incompatible|Expected 2D array|is out of bounds for array of dimension|feature_names mismatch|Input contains NaN",
        HINT_DATA,
    ),
    // --- data missing or access (input and model data)
    rule(
        DataMissingOrAccess,
        85,
        r#"(?i)No S3 objects found under S3 URL|NoSuchKey|NoSuchBucket|The specified (?:key|bucket) does not exist|Could not (?:find|access) model data|Failed to download model data|HeadObject operation: Not Found|The data store '[^'\n]*' does not exist"#,
        HINT_MISSING,
    ),
    rule(
        DataMissingOrAccess,
        80,
        r"(?i)Data download failed|Failed to download data|Unable to download object|ListObjectsV2 failed|\bSM_CHANNEL_\w+|no file found in path /opt/ml/input|No such file or directory: '/opt/ml/input|(?:HeadObject|GetObject|ListObjects\w*) operation: (?:Forbidden|Access Denied)",
        HINT_MISSING,
    ),
    // --- permissions (IAM, STS, KMS, marketplace, credentials, gated model repositories)
    rule(
        Permission,
        80,
        r"(?i)unable to assume the role|Could not assume role|unable to perform: sts:AssumeRole|is not authorized to perform|is not authorized to create|AccessDeniedException|not subscribed to the marketplace|\(AccessDenied\) when calling the (?:PutObject|CreateMultipartUpload|UploadPart|CompleteMultipartUpload|AssumeRole|CreateRole) operation|security token included in the request is (?:invalid|expired)|UnrecognizedClientException|ExpiredToken|Unable to locate credentials",
        HINT_PERMISSION,
    ),
    // Apart, so that the many lines holding "exception" run only this small pattern.
    rule(
        Permission,
        80,
        r"(?i)KMS\w*Exception|kms:\w+.*denied",
        HINT_PERMISSION,
    ),
    rule(
        Permission,
        76,
        r"(?i)gated repo|401 Client Error|Unauthorized for url",
        HINT_PERMISSION,
    ),
    // --- capacity and limits
    rule(
        CapacityOrLimit,
        85,
        r"(?i)ResourceLimitExceeded|CapacityError|Unable to provision requested ML compute capacity|InsufficientInstanceCapacity|account-level service limit|ThrottlingException|Rate exceeded",
        HINT_CAPACITY,
    ),
    // --- timeouts (job limits, model server workers, invocation and deployment waits)
    rule(
        Timeout,
        80,
        r"(?i)MaxRuntimeExceeded|reached (?:the )?max(?:imum)? ?runtime|did not respond in given time|upstream timed out|WORKER TIMEOUT|Worker timeout|deadline exceeded|timed out after \d+|invocation timed out|timed out while waiting for a response|did not complete sending the inference response|Read timeout on endpoint|ReadTimeoutError|timeout while waiting for state|Task timed out after",
        HINT_TIMEOUT,
    ),
    // --- SageMaker internal
    rule(
        InternalError,
        78,
        r"(?i)InternalServerError|We encountered an internal error|\(500\) when calling|InternalFailure|Request to service failed",
        HINT_INTERNAL,
    ),
    // A bare "Internal Server Error" is as often a model container's own error page.
    rule(
        InternalError,
        40,
        r"(?i)Internal Server Error",
        HINT_INTERNAL,
    ),
    // --- looks like evidence, is not: a model container's own 5xx without a cause
    rule(
        Unknown,
        50,
        r"(?i)Received server error \(\d+\) from (?:primary|model)|\bWorker died\b|could not load the entire response body",
        "",
    ),
    // --- user code: the model type unknown to the serving stack, missing modules, exceptions
    rule(
        UserCodeError,
        70,
        r"(?i)does not recognize this architecture|requires you to execute the configuration file|trust_remote_code|\\+u0027[\w.-]+\\+u0027",
        HINT_CODE,
    ),
    rule(
        UserCodeError,
        45,
        r"(?i)No module named|ModuleNotFoundError|ImportError|has no attribute '\w+",
        HINT_CODE,
    ),
    Rule {
        unless: WRAPPERS,
        ..rule(
            UserCodeError,
            35,
            r"\b[A-Z][A-Za-z0-9_]*(?:Error|Exception)(?::|,[ \t]*exit code)",
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
