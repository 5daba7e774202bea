//! The records port on DynamoDB: one table, `pk`/`sk` string keys, the body in a `data` map,
//! the version in `version`, optional TTL in `expires_at`. Reads are strongly consistent so a
//! version read is the version a conditional write will be checked against.

use crate::error::StoreError;
use crate::records::{Condition, Key, MAX_WRITES_PER_TRANSACTION, Page, PageRequest, Record, Records, Write, refused};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use std::collections::HashMap;
use std::time::Duration;

type Item = HashMap<String, AttributeValue>;

const SERVICE: &str = "DynamoDB";
const PK: &str = "pk";
const SK: &str = "sk";
const VERSION: &str = "version";
const DATA: &str = "data";
const EXPIRES_AT: &str = "expires_at";
/// The string set of a set record ([`Write::AddMember`]), shown to readers as `data.members`.
const MEMBERS: &str = "members";
/// The number of a count record ([`Write::Count`]), shown to readers as `data.count`.
const COUNT: &str = "count";
/// BatchGetItem takes at most 100 keys a request.
const BATCH_GET_LIMIT: usize = 100;
/// How often unprocessed keys of a batch read are asked for again before giving up.
const BATCH_GET_RETRIES: u32 = 8;

#[derive(Clone)]
pub struct DynamoRecords {
    client: Client,
    table: String,
}

impl DynamoRecords {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoRecords {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

fn key_item(key: &Key) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn to_item(record: &Record) -> Result<Item, StoreError> {
    let data = serde_dynamo::to_attribute_value(&record.data).map_err(|e| StoreError::Corrupt {
        key: record.key.clone(),
        reason: e.to_string(),
    })?;
    let mut item = key_item(&record.key);
    item.insert(VERSION.to_owned(), AttributeValue::N(record.version.to_string()));
    item.insert(DATA.to_owned(), data);
    if let Some(expires_at) = record.expires_at {
        item.insert(EXPIRES_AT.to_owned(), AttributeValue::N(expires_at.to_string()));
    }
    Ok(item)
}

fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn from_item(mut item: Item) -> Result<Record, StoreError> {
    let key = Key::new(
        string(&item, PK).unwrap_or_default(),
        string(&item, SK).unwrap_or_default(),
    );
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key.clone(),
        reason,
    };
    let version = number(&item, VERSION).ok_or_else(|| corrupt("no version".into()))?;
    // Taken, not cloned: a page of a thousand records is decoded on every full read.
    let mut data = match item.remove(DATA) {
        Some(value) => serde_dynamo::from_attribute_value(value).map_err(|e| corrupt(e.to_string()))?,
        None => return Err(corrupt("no data".into())),
    };
    // Sets and counts live beside `data` (DynamoDB updates them in place); readers see them in it.
    if let serde_json::Value::Object(data) = &mut data {
        if let Some(members) = item.get(MEMBERS).and_then(|m| m.as_ss().ok()) {
            let mut members = members.clone();
            members.sort();
            data.insert(MEMBERS.to_owned(), serde_json::json!(members));
        }
        if let Some(count) = number::<i64>(&item, COUNT) {
            data.insert(COUNT.to_owned(), serde_json::json!(count));
        }
    }
    Ok(Record {
        expires_at: number(&item, EXPIRES_AT),
        key,
        version,
        data,
    })
}

/// The condition expression, its names and values for one write.
struct Expr {
    condition: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<Item>,
}

fn expression(condition: Condition) -> Expr {
    match condition {
        Condition::Always => Expr {
            condition: None,
            names: None,
            values: None,
        },
        Condition::Absent => Expr {
            condition: Some(format!("attribute_not_exists({PK})")),
            names: None,
            values: None,
        },
        Condition::VersionBelow(limit) => Expr {
            condition: Some(format!("attribute_not_exists({PK}) OR #version < :limit")),
            names: Some(HashMap::from([("#version".to_owned(), VERSION.to_owned())])),
            values: Some(HashMap::from([(
                ":limit".to_owned(),
                AttributeValue::N(limit.to_string()),
            )])),
        },
        Condition::AtVersion(version) => Expr {
            condition: Some("#version = :expected".to_owned()),
            names: Some(HashMap::from([("#version".to_owned(), VERSION.to_owned())])),
            values: Some(HashMap::from([(
                ":expected".to_owned(),
                AttributeValue::N(version.to_string()),
            )])),
        },
    }
}

/// The update expression, its names and values for a write that changes a record in place (a
/// set member or a count), together with the write's condition.
struct InPlace {
    update: String,
    expr: Expr,
}

fn in_place(write: &Write) -> Option<InPlace> {
    let (change, values): (&str, Item) = match write {
        Write::Count {
            by,
            expires_at: Some(expires_at),
            ..
        } => (
            "SET #expires_at = :expires_at ADD #count :by, #version :one",
            HashMap::from([
                (":by".to_owned(), AttributeValue::N(by.to_string())),
                (":expires_at".to_owned(), AttributeValue::N(expires_at.to_string())),
            ]),
        ),
        Write::AddMember { member, .. } => (
            "ADD #members :member, #version :one",
            HashMap::from([(":member".to_owned(), AttributeValue::Ss(vec![member.clone()]))]),
        ),
        Write::RemoveMember { member, .. } => (
            "DELETE #members :member ADD #version :one",
            HashMap::from([(":member".to_owned(), AttributeValue::Ss(vec![member.clone()]))]),
        ),
        Write::Count { by, .. } => (
            "ADD #count :by, #version :one",
            HashMap::from([(":by".to_owned(), AttributeValue::N(by.to_string()))]),
        ),
        _ => return None,
    };
    let mut expr = expression(write.condition());
    let names = expr.names.get_or_insert_with(HashMap::new);
    for (name, attribute) in [
        ("#data", DATA),
        ("#version", VERSION),
        ("#members", MEMBERS),
        ("#count", COUNT),
        ("#expires_at", EXPIRES_AT),
    ] {
        if change.contains(name) || name == "#data" || name == "#version" {
            names.insert(name.to_owned(), attribute.to_owned());
        }
    }
    let all_values = expr.values.get_or_insert_with(HashMap::new);
    all_values.extend(values);
    all_values.insert(":one".to_owned(), AttributeValue::N("1".into()));
    all_values.insert(":empty".to_owned(), AttributeValue::M(HashMap::new()));
    // A new record gets an empty `data`, so it reads like every other record; DynamoDB takes
    // one SET clause, so a change that sets more joins it.
    let update = match change.strip_prefix("SET ") {
        Some(more) => format!("SET #data = if_not_exists(#data, :empty), {more}"),
        None => format!("SET #data = if_not_exists(#data, :empty) {change}"),
    };
    Some(InPlace { update, expr })
}

fn current_version(item: Option<&Item>) -> Option<u64> {
    item.and_then(|item| number(item, VERSION))
}

impl DynamoRecords {
    async fn write_one(&self, write: &Write) -> Result<(), StoreError> {
        let expr = expression(write.condition());
        match write {
            // Only a transaction can check a record without writing it.
            Write::Check { .. } => self.write_all(std::slice::from_ref(write)).await,
            Write::Put { record, .. } => {
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(to_item(record)?))
                    .set_condition_expression(expr.condition)
                    .set_expression_attribute_names(expr.names)
                    .set_expression_attribute_values(expr.values)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(error) => match error.as_service_error() {
                        Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                            Err(refused(write, current_version(failed.item())))
                        }
                        _ => Err(StoreError::from_sdk(SERVICE, error)),
                    },
                }
            }
            Write::AddMember { key, .. } | Write::RemoveMember { key, .. } | Write::Count { key, .. } => {
                let InPlace { update, expr } = in_place(write).expect("an in-place write");
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key_item(key)))
                    .update_expression(update)
                    .set_condition_expression(expr.condition)
                    .set_expression_attribute_names(expr.names)
                    .set_expression_attribute_values(expr.values)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(error) => match error.as_service_error() {
                        Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                            Err(refused(write, current_version(failed.item())))
                        }
                        _ => Err(StoreError::from_sdk(SERVICE, error)),
                    },
                }
            }
            Write::Delete { key, .. } => {
                let result = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key_item(key)))
                    .set_condition_expression(expr.condition)
                    .set_expression_attribute_names(expr.names)
                    .set_expression_attribute_values(expr.values)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(error) => match error.as_service_error() {
                        Some(DeleteItemError::ConditionalCheckFailedException(failed)) => {
                            Err(refused(write, current_version(failed.item())))
                        }
                        _ => Err(StoreError::from_sdk(SERVICE, error)),
                    },
                }
            }
        }
    }

    async fn write_all(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(writes.len());
        for write in writes {
            let expr = expression(write.condition());
            let on_failure = ReturnValuesOnConditionCheckFailure::AllOld;
            let item = match write {
                Write::Put { record, .. } => TransactWriteItem::builder().put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_item(record)?))
                        .set_condition_expression(expr.condition)
                        .set_expression_attribute_names(expr.names)
                        .set_expression_attribute_values(expr.values)
                        .return_values_on_condition_check_failure(on_failure)
                        .build()
                        .map_err(build_error)?,
                ),
                Write::Delete { key, .. } => TransactWriteItem::builder().delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_item(key)))
                        .set_condition_expression(expr.condition)
                        .set_expression_attribute_names(expr.names)
                        .set_expression_attribute_values(expr.values)
                        .return_values_on_condition_check_failure(on_failure)
                        .build()
                        .map_err(build_error)?,
                ),
                Write::AddMember { key, .. } | Write::RemoveMember { key, .. } | Write::Count { key, .. } => {
                    let InPlace { update, expr } = in_place(write).expect("an in-place write");
                    TransactWriteItem::builder().update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(key_item(key)))
                            .update_expression(update)
                            .set_condition_expression(expr.condition)
                            .set_expression_attribute_names(expr.names)
                            .set_expression_attribute_values(expr.values)
                            .return_values_on_condition_check_failure(on_failure)
                            .build()
                            .map_err(build_error)?,
                    )
                }
                Write::Check { key, .. } => TransactWriteItem::builder().condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_item(key)))
                        .set_condition_expression(expr.condition)
                        .set_expression_attribute_names(expr.names)
                        .set_expression_attribute_values(expr.values)
                        .return_values_on_condition_check_failure(on_failure)
                        .build()
                        .map_err(build_error)?,
                ),
            };
            items.push(item.build());
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(error) = result else { return Ok(()) };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() else {
            return Err(StoreError::from_sdk(SERVICE, error));
        };
        let reasons = cancelled.cancellation_reasons();
        for (write, reason) in writes.iter().zip(reasons) {
            if reason.code() == Some("ConditionalCheckFailed") {
                return Err(refused(write, current_version(reason.item())));
            }
        }
        if reasons
            .iter()
            .any(|r| matches!(r.code(), Some("ThrottlingError" | "ProvisionedThroughputExceeded")))
        {
            return Err(StoreError::Throttled(SERVICE));
        }
        Err(StoreError::TransactionConflict)
    }
}

fn build_error(error: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Service {
        service: SERVICE,
        message: error.to_string(),
        retryable: false,
    }
}

#[async_trait]
impl Records for DynamoRecords {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
        output.item.map(from_item).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Record>, StoreError> {
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut records = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(BATCH_GET_LIMIT) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|k| key_item(k)).collect()))
                    .consistent_read(true)
                    .build()
                    .map_err(build_error)?,
            );
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
                for item in output
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    records.push(from_item(item)?);
                }
                pending = output
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.table)
                    .filter(|rest| !rest.keys().is_empty());
                if pending.is_some() {
                    attempt += 1;
                    if attempt > BATCH_GET_RETRIES {
                        return Err(StoreError::Throttled(SERVICE));
                    }
                    // DynamoDB hands back unprocessed keys under load: back off before asking again.
                    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
                }
            }
        }
        Ok(records)
    }

    async fn query(&self, pk: &str, sk_prefix: &str, page: PageRequest) -> Result<Page, StoreError> {
        if page.after.as_deref().is_some_and(|after| !after.starts_with(sk_prefix)) {
            return Err(StoreError::InvalidCursor);
        }
        let start = page.after.map(|after| key_item(&Key::new(pk, after)));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
            .limit(page.limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .scan_index_forward(!page.newest_first)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
        let records = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = output.last_evaluated_key.as_ref().and_then(|key| string(key, SK));
        Ok(Page { records, next })
    }

    async fn write(&self, mut writes: Vec<Write>) -> Result<(), StoreError> {
        // A check without a condition checks nothing (and DynamoDB would refuse it).
        writes.retain(|w| {
            !matches!(
                w,
                Write::Check {
                    condition: Condition::Always,
                    ..
                }
            )
        });
        match writes.len() {
            0 => Ok(()),
            1 => self.write_one(&writes[0]).await,
            n if n > MAX_WRITES_PER_TRANSACTION => Err(StoreError::Limit {
                limit: format!("{n} writes cannot be applied atomically; the limit is {MAX_WRITES_PER_TRANSACTION}"),
            }),
            _ => self.write_all(&writes).await,
        }
    }
}
