//! The claim store in DynamoDB: one conditional PutItem per claim whose condition is
//! [`sagewatch::claims::decide`] written as an expression, and whose failure returns the
//! stored item (`ReturnValuesOnConditionCheckFailure=ALL_OLD`) so the same rule can say why
//! without a second read.

use crate::error::from_sdk;
use aws_sdk_dynamodb::types::{AttributeValue as A, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use sagewatch::claims::{decide, schema, Claim, ClaimItem, ClaimStore, Claimed, State};
use sagewatch::error::{AwsError, ErrorKind};
use std::collections::HashMap;

/// Granted when the key is free, when the stored claim is this owner's own write in the same
/// state, or when it is another owner's pending claim whose lease has passed.
const GRANT: &str = "attribute_not_exists(#pk) \
    OR (#owner = :owner AND #state = :state) \
    OR (#state = :pending AND #lease < :now)";

pub struct DynamoClaims {
    client: Client,
    table: String,
}

impl DynamoClaims {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoClaims {
            client,
            table: table.into(),
        }
    }
}

fn number(item: &HashMap<String, A>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn text(item: &HashMap<String, A>, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

/// The stored claim, as [`Claim::item`] wrote it. Items from before owners existed (no
/// `owner`, `state` "sent") read as done by nobody in particular.
pub fn parse_item(item: &HashMap<String, A>) -> ClaimItem {
    ClaimItem {
        state: text(item, schema::STATE)
            .and_then(|s| State::parse(&s))
            .unwrap_or(State::Done),
        owner: text(item, schema::OWNER).unwrap_or_default(),
        lease_until_ms: number(item, schema::LEASE_UNTIL_MS).unwrap_or(i64::MAX),
        claimed_at: number(item, schema::CLAIMED_AT).unwrap_or_default(),
        expires_at: number(item, schema::EXPIRES_AT).unwrap_or_default(),
        event_id: text(item, schema::EVENT_ID),
    }
}

fn not_held(operation: &'static str) -> AwsError {
    AwsError::new(
        operation,
        ErrorKind::ConditionFailed,
        "ConditionalCheckFailedException",
        "the claim is not held by this owner",
    )
}

impl ClaimStore for DynamoClaims {
    async fn claim(&self, claim: &Claim) -> Result<Claimed, AwsError> {
        let item = claim.item();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(schema::KEY, A::S(claim.key.clone()))
            .item(schema::STATE, A::S(item.state.as_str().to_owned()))
            .item(schema::OWNER, A::S(item.owner.clone()))
            .item(
                schema::LEASE_UNTIL_MS,
                A::N(item.lease_until_ms.to_string()),
            )
            .item(schema::CLAIMED_AT, A::N(item.claimed_at.to_string()))
            .item(schema::EXPIRES_AT, A::N(item.expires_at.to_string()))
            .condition_expression(GRANT)
            .expression_attribute_names("#pk", schema::KEY)
            .expression_attribute_names("#owner", schema::OWNER)
            .expression_attribute_names("#state", schema::STATE)
            .expression_attribute_names("#lease", schema::LEASE_UNTIL_MS)
            .expression_attribute_values(":owner", A::S(item.owner.clone()))
            .expression_attribute_values(":state", A::S(item.state.as_str().to_owned()))
            .expression_attribute_values(":pending", A::S(schema::PENDING.to_owned()))
            .expression_attribute_values(":now", A::N(claim.now.timestamp_millis().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(id) = &item.event_id {
            put = put.item(schema::EVENT_ID, A::S(id.clone()));
        }
        match put.send().await {
            Ok(_) => Ok(decide(None, claim)),
            Err(e) => {
                let stored = e
                    .as_service_error()
                    .filter(|s| s.is_conditional_check_failed_exception())
                    .map(|s| match s {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                            c.item().map(parse_item)
                        }
                        _ => None,
                    });
                match stored {
                    // Refused: the stored item says why (the rule cannot grant it now).
                    Some(Some(old)) => match decide(Some(&old), claim) {
                        Claimed::Acquired(_) => Ok(Claimed::InProgress {
                            owner: old.owner,
                            lease_until_ms: old.lease_until_ms,
                        }),
                        other => Ok(other),
                    },
                    // Refused without the item (not every DynamoDB-compatible store returns
                    // it): somebody holds it; say "in progress" so the caller retries later.
                    Some(None) => Ok(Claimed::InProgress {
                        owner: String::new(),
                        lease_until_ms: i64::MAX,
                    }),
                    None => Err(from_sdk("PutItem", &e)),
                }
            }
        }
    }

    async fn complete(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(schema::KEY, A::S(key.to_owned()))
            .update_expression("SET #state = :done")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#state", schema::STATE)
            .expression_attribute_names("#owner", schema::OWNER)
            .expression_attribute_values(":done", A::S(schema::DONE.to_owned()))
            .expression_attribute_values(":owner", A::S(owner.to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| match from_sdk("UpdateItem", &e) {
                err if err.kind == ErrorKind::ConditionFailed => not_held("UpdateItem"),
                err => err,
            })
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(schema::KEY, A::S(key.to_owned()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", schema::OWNER)
            .expression_attribute_values(":owner", A::S(owner.to_owned()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) => match from_sdk("DeleteItem", &e) {
                // Not ours (any more): nothing to give back.
                err if err.kind == ErrorKind::ConditionFailed => Ok(()),
                err => Err(err),
            },
        }
    }
}
