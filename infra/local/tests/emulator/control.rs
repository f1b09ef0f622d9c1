use sagewatch_emulator::{Emulator, JobKind};
use serde_json::json;

#[tokio::test]
async fn health_answers_ok() {
    let emu = Emulator::shared().await;
    let health = emu
        .control("GET", "/_sagewatch/health", None)
        .await
        .expect("health endpoint");
    assert_eq!(health, json!({"ok": true}));
}

#[tokio::test]
async fn bad_patches_are_rejected_with_a_reason() {
    let emu = Emulator::shared().await;
    let name = sagewatch_emulator::unique_name("bad-patch");
    let path = format!("/_sagewatch/sagemaker/training-jobs/{name}");
    let err = emu
        .control("POST", &path, Some(&json!({"TrainingJobStatus": "Bogus"})))
        .await
        .expect_err("bad enum value must be rejected");
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert!(err.to_string().contains("TrainingJobStatus"), "{err}");
    let err = emu
        .control("POST", &path, Some(&json!({"NoSuchField": 1})))
        .await
        .expect_err("unknown field must be rejected");
    assert!(err.to_string().contains("NoSuchField"), "{err}");
}

#[tokio::test]
async fn seeded_job_can_be_read_back() {
    let emu = Emulator::shared().await;
    let name = sagewatch_emulator::unique_name("read-back");
    let seeded = emu
        .seed_job(
            JobKind::Training,
            &name,
            json!({"TrainingStartTime": 1_700_000_000}),
        )
        .await;
    let read = emu
        .control(
            "GET",
            &format!("/_sagewatch/sagemaker/training-jobs/{name}"),
            None,
        )
        .await
        .expect("GET seeded job");
    assert_eq!(read["TrainingJobName"], json!(name));
    assert_eq!(read["TrainingStartTime"], json!(1_700_000_000.0));
    assert_eq!(seeded["TrainingJobArn"], read["TrainingJobArn"]);
}

/// Several tests, each on its own runtime and thread, get the same emulator.
#[test]
fn shared_is_one_emulator_across_runtimes() {
    let endpoints: Vec<String> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async { Emulator::shared().await.endpoint().to_owned() })
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert!(
        endpoints.iter().all(|e| e == &endpoints[0]),
        "{endpoints:?}"
    );
    assert!(
        endpoints[0].starts_with("http://127.0.0.1:"),
        "{}",
        endpoints[0]
    );
}
