use aws_sdk_sts as sts;
use sagewatch_emulator::{unique_name, Emulator, ACCOUNT_ID};

#[tokio::test]
async fn assume_role_returns_credentials() {
    let client = sts::Client::new(&Emulator::shared().await.sdk_config().await);
    let role = format!("arn:aws:iam::{ACCOUNT_ID}:role/sagewatch-reader");
    let out = client
        .assume_role()
        .role_arn(&role)
        .role_session_name(unique_name("session"))
        .send()
        .await
        .expect("AssumeRole");
    let creds = out.credentials().expect("Credentials");
    assert!(!creds.access_key_id().is_empty());
    assert!(!creds.secret_access_key().is_empty());
    assert!(!creds.session_token().is_empty());
    let user = out.assumed_role_user().expect("AssumedRoleUser");
    assert!(
        user.arn().contains(":assumed-role/sagewatch-reader/"),
        "{}",
        user.arn()
    );

    let who = client
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(who.account(), Some(ACCOUNT_ID));
}
