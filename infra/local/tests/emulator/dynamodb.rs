use aws_sdk_dynamodb as ddb;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use sagewatch_emulator::{unique_name, Emulator};

#[tokio::test]
async fn conditional_put_rejects_the_second_writer() {
    let client = ddb::Client::new(&Emulator::shared().await.sdk_config().await);
    let table = unique_name("dedupe");
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("KeySchemaElement"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("AttributeDefinition"),
        )
        .send()
        .await
        .expect("CreateTable");

    let put = || {
        client
            .put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("event-1".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
    };
    put().await.expect("first PutItem");
    let err = put()
        .await
        .expect_err("second PutItem must fail")
        .into_service_error();
    assert!(
        matches!(err, PutItemError::ConditionalCheckFailedException(_)),
        "{err:?}"
    );
}
