use aws_sdk_sagemaker as sm;
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{
    AlgorithmSpecification, OutputDataConfig, ProcessingJobStatus, ResourceConfig, SecondaryStatus,
    StoppingCondition, Tag, TrainingInputMode, TrainingInstanceType, TrainingJobStatus,
    TransformJobStatus,
};
use sagewatch_emulator::{unique_name, CallCounter, Emulator, JobKind, ACCOUNT_ID, REGION};
use serde_json::json;

async fn client() -> (&'static Emulator, sm::Client) {
    let emu = Emulator::shared().await;
    (emu, sm::Client::new(&emu.sdk_config().await))
}

#[tokio::test]
async fn create_then_describe_training_job() {
    let (_, client) = client().await;
    let name = unique_name("create");
    let created = client
        .create_training_job()
        .training_job_name(&name)
        .role_arn(format!("arn:aws:iam::{ACCOUNT_ID}:role/SageMakerRole"))
        .algorithm_specification(
            AlgorithmSpecification::builder()
                .training_image("123.dkr.ecr.us-east-1.amazonaws.com/train:latest")
                .training_input_mode(TrainingInputMode::File)
                .build(),
        )
        .output_data_config(
            OutputDataConfig::builder()
                .s3_output_path("s3://bucket/out")
                .build(),
        )
        .resource_config(
            ResourceConfig::builder()
                .instance_type(TrainingInstanceType::MlG5Xlarge)
                .instance_count(2)
                .volume_size_in_gb(50)
                .build(),
        )
        .stopping_condition(
            StoppingCondition::builder()
                .max_runtime_in_seconds(3600)
                .build(),
        )
        .tags(Tag::builder().key("team").value("ml").build())
        .send()
        .await
        .expect("CreateTrainingJob");
    let arn = created.training_job_arn().expect("TrainingJobArn");
    assert_eq!(
        arn,
        format!("arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:training-job/{name}")
    );

    let job = client
        .describe_training_job()
        .training_job_name(&name)
        .send()
        .await
        .expect("DescribeTrainingJob");
    assert_eq!(job.training_job_name(), Some(name.as_str()));
    // Like AWS (unlike plain moto), a new job is running, not already Completed.
    assert_eq!(
        job.training_job_status(),
        Some(&TrainingJobStatus::InProgress)
    );
    assert_eq!(job.training_end_time(), None);
    let resources = job.resource_config().expect("ResourceConfig");
    assert_eq!(
        resources.instance_type(),
        Some(&TrainingInstanceType::MlG5Xlarge)
    );
    assert_eq!(resources.instance_count(), Some(2));
    assert!(job.creation_time().is_some());
    let spec = job
        .algorithm_specification()
        .expect("AlgorithmSpecification");
    assert!(spec.metric_definitions().is_empty(), "{spec:?}");
}

#[tokio::test]
async fn stop_in_progress_training_job_goes_to_stopping() {
    let (emu, client) = client().await;
    let name = unique_name("stop");
    emu.seed_job(
        JobKind::Training,
        &name,
        json!({"TrainingJobStatus": "InProgress"}),
    )
    .await;
    client
        .stop_training_job()
        .training_job_name(&name)
        .send()
        .await
        .expect("StopTrainingJob");
    let job = client
        .describe_training_job()
        .training_job_name(&name)
        .send()
        .await
        .expect("DescribeTrainingJob");
    assert_eq!(
        job.training_job_status(),
        Some(&TrainingJobStatus::Stopping)
    );
    assert_eq!(job.secondary_status(), Some(&SecondaryStatus::Stopping));
    // It stays Stopping until a test moves it on.
    emu.seed_job(
        JobKind::Training,
        &name,
        json!({"TrainingJobStatus": "Stopped"}),
    )
    .await;
    let job = client
        .describe_training_job()
        .training_job_name(&name)
        .send()
        .await
        .expect("DescribeTrainingJob");
    assert_eq!(job.training_job_status(), Some(&TrainingJobStatus::Stopped));
    assert_eq!(job.secondary_status(), Some(&SecondaryStatus::Stopped));
    assert!(job.training_end_time().is_some());
}

#[tokio::test]
async fn stop_completed_training_job_is_a_validation_error() {
    let (emu, client) = client().await;
    let name = unique_name("stop-done");
    emu.seed_job(
        JobKind::Training,
        &name,
        json!({"TrainingJobStatus": "Completed"}),
    )
    .await;
    let err = client
        .stop_training_job()
        .training_job_name(&name)
        .send()
        .await
        .expect_err("stopping a Completed job must fail")
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert_eq!(
        err.message(),
        Some("The request was rejected because the training job is in status Completed.")
    );

    let missing = client
        .stop_training_job()
        .training_job_name(unique_name("missing"))
        .send()
        .await
        .expect_err("unknown job")
        .into_service_error();
    assert_eq!(missing.code(), Some("ValidationException"));
    assert_eq!(missing.message(), Some("Requested resource not found."));
}

#[tokio::test]
async fn seeded_failed_training_job_is_described_with_its_reason() {
    let (emu, client) = client().await;
    let name = unique_name("failed");
    let seeded = emu
        .seed_job(
            JobKind::Training,
            &name,
            json!({
                "TrainingJobStatus": "Failed",
                "FailureReason": "AlgorithmError: CUDA out of memory",
                "TrainingStartTime": "2024-05-01T10:00:00Z",
                "TrainingEndTime": 1_714_561_200,
                "BillableTimeInSeconds": 3600,
                "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 4, "VolumeSizeInGB": 100},
                "HyperParameters": {"epochs": "10"},
            }),
        )
        .await;
    assert_eq!(seeded["TrainingJobStatus"], json!("Failed"));

    let calls = CallCounter::default();
    let conf = sm::config::Builder::from(&emu.sdk_config().await)
        .interceptor(calls.clone())
        .build();
    let counted = sm::Client::from_conf(conf);
    let job = counted
        .describe_training_job()
        .training_job_name(&name)
        .send()
        .await
        .expect("DescribeTrainingJob");
    assert_eq!(job.training_job_status(), Some(&TrainingJobStatus::Failed));
    assert_eq!(job.secondary_status(), Some(&SecondaryStatus::Failed));
    assert_eq!(
        job.failure_reason(),
        Some("AlgorithmError: CUDA out of memory")
    );
    assert_eq!(job.billable_time_in_seconds(), Some(3600));
    assert_eq!(
        job.training_start_time().map(|t| t.secs()),
        Some(1_714_557_600)
    );
    assert_eq!(
        job.training_end_time().map(|t| t.secs()),
        Some(1_714_561_200)
    );
    let resources = job.resource_config().expect("ResourceConfig");
    assert_eq!(resources.instance_count(), Some(4));
    assert_eq!(
        job.hyper_parameters()
            .and_then(|h| h.get("epochs"))
            .map(String::as_str),
        Some("10")
    );
    drop(client);

    let _ = counted
        .describe_training_job()
        .training_job_name(&name)
        .send()
        .await;
    let _ = counted
        .stop_training_job()
        .training_job_name(&name)
        .send()
        .await;
    assert_eq!(calls.total(), 3, "{:?}", calls.counts());
    assert_eq!(calls.counts().get("DescribeTrainingJob"), Some(&2));
    assert_eq!(calls.counts().get("StopTrainingJob"), Some(&1));
}

#[tokio::test]
async fn add_tags_and_list_tags_on_a_training_job() {
    let (emu, client) = client().await;
    let name = unique_name("tags");
    let seeded = emu
        .seed_job(
            JobKind::Training,
            &name,
            json!({"Tags": [{"Key": "sagewatch:watch", "Value": "true"}]}),
        )
        .await;
    let arn = seeded["TrainingJobArn"].as_str().expect("ARN").to_owned();
    client
        .add_tags()
        .resource_arn(&arn)
        .tags(Tag::builder().key("team").value("vision").build())
        .tags(Tag::builder().key("sagewatch:watch").value("false").build())
        .send()
        .await
        .expect("AddTags");
    let tags = client
        .list_tags()
        .resource_arn(&arn)
        .send()
        .await
        .expect("ListTags");
    let mut pairs: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            ("sagewatch:watch".to_owned(), "false".to_owned()),
            ("team".to_owned(), "vision".to_owned()),
        ]
    );
}

#[tokio::test]
async fn seeded_processing_and_transform_jobs_are_described() {
    let (emu, client) = client().await;
    let proc_name = unique_name("proc");
    emu.seed_job(
        JobKind::Processing,
        &proc_name,
        json!({"ProcessingJobStatus": "Failed", "ExitMessage": "exit code 2", "FailureReason": "AlgorithmError"}),
    )
    .await;
    let job = client
        .describe_processing_job()
        .processing_job_name(&proc_name)
        .send()
        .await
        .expect("DescribeProcessingJob");
    assert_eq!(
        job.processing_job_status(),
        Some(&ProcessingJobStatus::Failed)
    );
    assert_eq!(job.exit_message(), Some("exit code 2"));
    assert_eq!(job.failure_reason(), Some("AlgorithmError"));
    let cluster = job
        .processing_resources()
        .and_then(|r| r.cluster_config())
        .expect("ClusterConfig");
    assert_eq!(cluster.instance_count(), Some(1));
    assert!(job.processing_end_time().is_some());

    let transform_name = unique_name("transform");
    emu.seed_job(
        JobKind::Transform,
        &transform_name,
        json!({"TransformJobStatus": "Completed", "TransformResources": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 3}}),
    )
    .await;
    let job = client
        .describe_transform_job()
        .transform_job_name(&transform_name)
        .send()
        .await
        .expect("DescribeTransformJob");
    assert_eq!(
        job.transform_job_status(),
        Some(&TransformJobStatus::Completed)
    );
    assert_eq!(job.failure_reason(), None);
    assert_eq!(
        job.transform_resources().and_then(|r| r.instance_count()),
        Some(3)
    );
}
