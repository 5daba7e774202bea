//! The queue port (work handed from one function to another) and its SQS adapter.

use crate::error::StoreError;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use std::time::Duration;

const SERVICE: &str = "SQS";
/// SQS takes at most ten messages per batch call.
const BATCH_LIMIT: usize = 10;

/// A message as the consumer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// How many times the message has been handed out, this time included.
    pub receive_count: u32,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends every body; an error means at least one was not accepted (none is lost silently:
    /// the caller retries the whole batch, and consumers are idempotent).
    async fn send(&self, bodies: Vec<String>) -> Result<(), StoreError>;
    /// Waits up to `wait` for at most `max` messages.
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<ReceivedMessage>, StoreError>;
    /// Acknowledges a message so it is not handed out again.
    async fn delete(&self, receipt_handle: &str) -> Result<(), StoreError>;
}

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Hands a received message out again after `delay` instead of after the queue's visibility
    /// timeout.
    pub async fn retry_after(&self, receipt_handle: &str, delay: Duration) -> Result<(), StoreError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, bodies: Vec<String>) -> Result<(), StoreError> {
        for chunk in bodies.chunks(BATCH_LIMIT) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| StoreError::Service {
                            service: SERVICE,
                            message: e.to_string(),
                            retryable: false,
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
            if let Some(failed) = output.failed.first() {
                return Err(StoreError::Service {
                    service: SERVICE,
                    message: format!(
                        "{} of {} messages were not accepted ({}: {})",
                        output.failed.len(),
                        chunk.len(),
                        failed.code,
                        failed.message.as_deref().unwrap_or("no reason given")
                    ),
                    retryable: !failed.sender_fault,
                });
            }
        }
        Ok(())
    }

    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<ReceivedMessage>, StoreError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|message| ReceivedMessage {
                receive_count: message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
                message_id: message.message_id.unwrap_or_default(),
                receipt_handle: message.receipt_handle.unwrap_or_default(),
                body: message.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), StoreError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
        Ok(())
    }
}
