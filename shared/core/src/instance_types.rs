//! vCPU and GPU counts of SageMaker `ml.*` instance types.
//!
//! SageMaker's host metrics `CPUUtilization`, `GPUUtilization` and `GPUMemoryUtilization` are
//! sums over cores / GPUs (0–100 × n, SageMaker DG *Amazon SageMaker AI metrics in Amazon
//! CloudWatch*, job instance metrics); dividing by n gives a 0–100 % value. A type that is not
//! in the table is `None`: callers leave its values raw and say so, they never guess.
//!
//! Sources: an `ml.<family>.<size>` type runs on the EC2 `<family>.<size>` hardware, so vCPU
//! counts are the EC2 ones (Amazon EC2 *Instance types* specifications: general purpose,
//! compute optimized, memory optimized, accelerated computing). GPU counts agree with
//! `aws/sagemaker-python-sdk` `src/sagemaker/image_uri_config/instance_gpu_info.json` (`Count`)
//! for every type listed there. Trainium (`trn*`) and Inferentia (`inf*`) accelerators are not
//! GPUs and report no GPU metrics, so their GPU count is 0; their AWS Neuron device count is
//! `accelerators` (AWS Neuron documentation, *Amazon EC2 Trn1 Architecture*: trn1.2xlarge 1,
//! trn1.32xlarge / trn1n.32xlarge 16 Trainium chips; *Amazon EC2 Inf2 Architecture*:
//! inf2.xlarge 1, inf2.8xlarge 1, inf2.24xlarge 6, inf2.48xlarge 12 Inferentia2 chips).
//! SageMaker's job host metrics do not measure Neuron devices, so a caller must not judge such
//! an instance's use from its CPU.

/// What normalisation needs to know about an instance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceSpec {
    pub vcpus: u32,
    pub gpus: u32,
    /// AWS Neuron devices (Trainium / Inferentia chips); 0 for every other type.
    pub accelerators: u32,
}

impl InstanceSpec {
    /// The instance's main compute is an accelerator that host metrics do not measure.
    pub fn has_unmeasured_accelerators(&self) -> bool {
        self.accelerators > 0
    }
}

/// (type, vCPUs, GPUs, Neuron devices). Sorted by family for reading; looked up linearly (it is small).
const TABLE: &[(&str, u32, u32, u32)] = &[
    // Burstable and general purpose.
    ("ml.t3.medium", 2, 0, 0),
    ("ml.t3.large", 2, 0, 0),
    ("ml.t3.xlarge", 4, 0, 0),
    ("ml.t3.2xlarge", 8, 0, 0),
    ("ml.m4.xlarge", 4, 0, 0),
    ("ml.m4.2xlarge", 8, 0, 0),
    ("ml.m4.4xlarge", 16, 0, 0),
    ("ml.m4.10xlarge", 40, 0, 0),
    ("ml.m4.16xlarge", 64, 0, 0),
    ("ml.m5.large", 2, 0, 0),
    ("ml.m5.xlarge", 4, 0, 0),
    ("ml.m5.2xlarge", 8, 0, 0),
    ("ml.m5.4xlarge", 16, 0, 0),
    ("ml.m5.12xlarge", 48, 0, 0),
    ("ml.m5.24xlarge", 96, 0, 0),
    ("ml.m5d.large", 2, 0, 0),
    ("ml.m5d.xlarge", 4, 0, 0),
    ("ml.m5d.2xlarge", 8, 0, 0),
    ("ml.m5d.4xlarge", 16, 0, 0),
    ("ml.m5d.12xlarge", 48, 0, 0),
    ("ml.m5d.24xlarge", 96, 0, 0),
    ("ml.m6i.large", 2, 0, 0),
    ("ml.m6i.xlarge", 4, 0, 0),
    ("ml.m6i.2xlarge", 8, 0, 0),
    ("ml.m6i.4xlarge", 16, 0, 0),
    ("ml.m6i.8xlarge", 32, 0, 0),
    ("ml.m6i.12xlarge", 48, 0, 0),
    ("ml.m6i.16xlarge", 64, 0, 0),
    ("ml.m6i.24xlarge", 96, 0, 0),
    ("ml.m6i.32xlarge", 128, 0, 0),
    ("ml.m7i.large", 2, 0, 0),
    ("ml.m7i.xlarge", 4, 0, 0),
    ("ml.m7i.2xlarge", 8, 0, 0),
    ("ml.m7i.4xlarge", 16, 0, 0),
    ("ml.m7i.8xlarge", 32, 0, 0),
    ("ml.m7i.12xlarge", 48, 0, 0),
    ("ml.m7i.16xlarge", 64, 0, 0),
    ("ml.m7i.24xlarge", 96, 0, 0),
    ("ml.m7i.48xlarge", 192, 0, 0),
    // Compute optimized.
    ("ml.c4.xlarge", 4, 0, 0),
    ("ml.c4.2xlarge", 8, 0, 0),
    ("ml.c4.4xlarge", 16, 0, 0),
    ("ml.c4.8xlarge", 36, 0, 0),
    ("ml.c5.large", 2, 0, 0),
    ("ml.c5.xlarge", 4, 0, 0),
    ("ml.c5.2xlarge", 8, 0, 0),
    ("ml.c5.4xlarge", 16, 0, 0),
    ("ml.c5.9xlarge", 36, 0, 0),
    ("ml.c5.18xlarge", 72, 0, 0),
    ("ml.c5n.xlarge", 4, 0, 0),
    ("ml.c5n.2xlarge", 8, 0, 0),
    ("ml.c5n.4xlarge", 16, 0, 0),
    ("ml.c5n.9xlarge", 36, 0, 0),
    ("ml.c5n.18xlarge", 72, 0, 0),
    ("ml.c6i.large", 2, 0, 0),
    ("ml.c6i.xlarge", 4, 0, 0),
    ("ml.c6i.2xlarge", 8, 0, 0),
    ("ml.c6i.4xlarge", 16, 0, 0),
    ("ml.c6i.8xlarge", 32, 0, 0),
    ("ml.c6i.12xlarge", 48, 0, 0),
    ("ml.c6i.16xlarge", 64, 0, 0),
    ("ml.c6i.24xlarge", 96, 0, 0),
    ("ml.c6i.32xlarge", 128, 0, 0),
    ("ml.c7i.large", 2, 0, 0),
    ("ml.c7i.xlarge", 4, 0, 0),
    ("ml.c7i.2xlarge", 8, 0, 0),
    ("ml.c7i.4xlarge", 16, 0, 0),
    ("ml.c7i.8xlarge", 32, 0, 0),
    ("ml.c7i.12xlarge", 48, 0, 0),
    ("ml.c7i.16xlarge", 64, 0, 0),
    ("ml.c7i.24xlarge", 96, 0, 0),
    ("ml.c7i.48xlarge", 192, 0, 0),
    // Memory optimized.
    ("ml.r5.large", 2, 0, 0),
    ("ml.r5.xlarge", 4, 0, 0),
    ("ml.r5.2xlarge", 8, 0, 0),
    ("ml.r5.4xlarge", 16, 0, 0),
    ("ml.r5.8xlarge", 32, 0, 0),
    ("ml.r5.12xlarge", 48, 0, 0),
    ("ml.r5.16xlarge", 64, 0, 0),
    ("ml.r5.24xlarge", 96, 0, 0),
    ("ml.r6i.large", 2, 0, 0),
    ("ml.r6i.xlarge", 4, 0, 0),
    ("ml.r6i.2xlarge", 8, 0, 0),
    ("ml.r6i.4xlarge", 16, 0, 0),
    ("ml.r6i.8xlarge", 32, 0, 0),
    ("ml.r6i.12xlarge", 48, 0, 0),
    ("ml.r6i.16xlarge", 64, 0, 0),
    ("ml.r6i.24xlarge", 96, 0, 0),
    ("ml.r6i.32xlarge", 128, 0, 0),
    // Accelerated: NVIDIA GPUs.
    ("ml.p2.xlarge", 4, 1, 0),
    ("ml.p2.8xlarge", 32, 8, 0),
    ("ml.p2.16xlarge", 64, 16, 0),
    ("ml.p3.2xlarge", 8, 1, 0),
    ("ml.p3.8xlarge", 32, 4, 0),
    ("ml.p3.16xlarge", 64, 8, 0),
    ("ml.p3dn.24xlarge", 96, 8, 0),
    ("ml.p4d.24xlarge", 96, 8, 0),
    ("ml.p4de.24xlarge", 96, 8, 0),
    ("ml.p5.48xlarge", 192, 8, 0),
    ("ml.p5e.48xlarge", 192, 8, 0),
    ("ml.p5en.48xlarge", 192, 8, 0),
    ("ml.g4dn.xlarge", 4, 1, 0),
    ("ml.g4dn.2xlarge", 8, 1, 0),
    ("ml.g4dn.4xlarge", 16, 1, 0),
    ("ml.g4dn.8xlarge", 32, 1, 0),
    ("ml.g4dn.12xlarge", 48, 4, 0),
    ("ml.g4dn.16xlarge", 64, 1, 0),
    ("ml.g5.xlarge", 4, 1, 0),
    ("ml.g5.2xlarge", 8, 1, 0),
    ("ml.g5.4xlarge", 16, 1, 0),
    ("ml.g5.8xlarge", 32, 1, 0),
    ("ml.g5.12xlarge", 48, 4, 0),
    ("ml.g5.16xlarge", 64, 1, 0),
    ("ml.g5.24xlarge", 96, 4, 0),
    ("ml.g5.48xlarge", 192, 8, 0),
    ("ml.g6.xlarge", 4, 1, 0),
    ("ml.g6.2xlarge", 8, 1, 0),
    ("ml.g6.4xlarge", 16, 1, 0),
    ("ml.g6.8xlarge", 32, 1, 0),
    ("ml.g6.12xlarge", 48, 4, 0),
    ("ml.g6.16xlarge", 64, 1, 0),
    ("ml.g6.24xlarge", 96, 4, 0),
    ("ml.g6.48xlarge", 192, 8, 0),
    ("ml.g6e.xlarge", 4, 1, 0),
    ("ml.g6e.2xlarge", 8, 1, 0),
    ("ml.g6e.4xlarge", 16, 1, 0),
    ("ml.g6e.8xlarge", 32, 1, 0),
    ("ml.g6e.12xlarge", 48, 4, 0),
    ("ml.g6e.16xlarge", 64, 1, 0),
    ("ml.g6e.24xlarge", 96, 4, 0),
    ("ml.g6e.48xlarge", 192, 8, 0),
    // Accelerated: AWS Trainium / Inferentia (no GPU metrics; Neuron devices).
    ("ml.trn1.2xlarge", 8, 0, 1),
    ("ml.trn1.32xlarge", 128, 0, 16),
    ("ml.trn1n.32xlarge", 128, 0, 16),
    ("ml.inf2.xlarge", 4, 0, 1),
    ("ml.inf2.8xlarge", 32, 0, 1),
    ("ml.inf2.24xlarge", 96, 0, 6),
    ("ml.inf2.48xlarge", 192, 0, 12),
];

/// The spec of an `ml.*` type (case and surrounding blanks ignored), `None` when unknown.
pub fn lookup(instance_type: &str) -> Option<InstanceSpec> {
    let wanted = instance_type.trim();
    TABLE
        .iter()
        .find(|(name, _, _, _)| name.eq_ignore_ascii_case(wanted))
        .map(|&(_, vcpus, gpus, accelerators)| InstanceSpec {
            vcpus,
            gpus,
            accelerators,
        })
}

/// Every type in the table (documentation and tests).
pub fn known_types() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(name, _, _, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_types() {
        assert_eq!(
            lookup("ml.g5.12xlarge"),
            Some(InstanceSpec {
                vcpus: 48,
                gpus: 4,
                accelerators: 0
            })
        );
        assert_eq!(
            lookup(" ML.M5.XLARGE "),
            Some(InstanceSpec {
                vcpus: 4,
                gpus: 0,
                accelerators: 0
            })
        );
        assert_eq!(lookup("ml.p4d.24xlarge").map(|s| s.gpus), Some(8));
        assert_eq!(lookup("InstanceType"), None);
        assert_eq!(lookup("m5.xlarge"), None, "only ml.* types");
    }

    #[test]
    fn table_is_sane() {
        let mut seen = std::collections::BTreeSet::new();
        for (name, vcpus, gpus, accelerators) in TABLE {
            assert!(name.starts_with("ml."), "{name}");
            // Neuron devices exactly on the Trainium / Inferentia families, never with GPUs.
            let neuron = name.starts_with("ml.trn") || name.starts_with("ml.inf");
            assert_eq!(*accelerators > 0, neuron, "{name}");
            assert!(*gpus == 0 || *accelerators == 0, "{name}");
            assert!(seen.insert(*name), "{name} listed twice");
            assert!(*vcpus >= 2 && vcpus % 2 == 0, "{name}");
            assert!(*gpus <= 16, "{name}");
        }
        assert!(known_types().count() > 100);
    }

    #[test]
    fn neuron_devices_of_trainium_and_inferentia() {
        for (name, devices) in [
            ("ml.trn1.2xlarge", 1),
            ("ml.trn1.32xlarge", 16),
            ("ml.trn1n.32xlarge", 16),
            ("ml.inf2.xlarge", 1),
            ("ml.inf2.8xlarge", 1),
            ("ml.inf2.24xlarge", 6),
            ("ml.inf2.48xlarge", 12),
        ] {
            let spec = lookup(name).expect(name);
            assert_eq!((spec.accelerators, spec.gpus), (devices, 0), "{name}");
            assert!(spec.has_unmeasured_accelerators(), "{name}");
        }
        let g5 = lookup("ml.g5.2xlarge").expect("g5");
        assert!(!g5.has_unmeasured_accelerators());
    }
}
