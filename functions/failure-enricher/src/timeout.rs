//! A training job that SageMaker stopped at its time limit (`MaxRuntimeExceeded`,
//! `MaxWaitTimeExceeded`) failed for a known reason whatever its logs say: the category is
//! `timeout`; the logs' evidence is kept (what it was doing when the limit came).

use sagewatch::classify::{Category, Classification};

/// What to do, by the limit that was hit.
const HINTS: &[(&str, &str)] = &[
    (
        "MaxRuntimeExceeded",
        "The job ran into StoppingCondition.MaxRuntimeInSeconds. Raise the limit if the job \
         needs longer, or make it faster (fewer epochs, a larger or more instances); save \
         checkpoints to /opt/ml/checkpoints so a restart resumes instead of starting over.",
    ),
    (
        "MaxWaitTimeExceeded",
        "The managed spot job waited and ran longer than StoppingCondition.MaxWaitTimeInSeconds. \
         Raise MaxWaitTimeInSeconds (it counts waiting for spot capacity), use checkpoints so \
         interruptions lose less, or run on-demand.",
    ),
];

pub fn override_classification(c: &mut Classification, reason: &str) {
    c.category = Category::Timeout;
    c.confidence = 1.0;
    if let Some((_, hint)) = HINTS.iter().find(|(r, _)| *r == reason) {
        c.hint = (*hint).to_owned();
    }
}
