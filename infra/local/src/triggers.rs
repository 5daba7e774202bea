//! Event triggers for the local stack. In AWS, S3 invokes a function directly; locally the dev
//! host subscribes a queue to the bucket's notifications (as the template's S3 events declare:
//! bucket, event types, key prefix) and hands each S3 event to the function, deleting it only
//! once handled, so a failure is retried as Lambda would retry it.

use crate::template::{ACCOUNT_ID, REGION};
use aws_config::SdkConfig;
use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::time::Duration;
use store::queue::{Queue, ReceivedMessage, SqsQueue};

enum Notification {
    /// S3's own test message, sent when notifications are configured.
    Test,
    Event(S3Event),
    Unreadable(String),
}

/// Reads a notification as the function would receive it. The emulator leaves out members real
/// S3 events always carry (who acted, from where, the bucket owner); they are filled in with
/// local values so the function sees the real event shape.
fn parse_notification(body: &str) -> Notification {
    let mut value: serde_json::Value = match serde_json::from_str(body) {
        Ok(value) => value,
        Err(error) => return Notification::Unreadable(error.to_string()),
    };
    if value["Event"] == "s3:TestEvent" {
        return Notification::Test;
    }
    for record in value["Records"].as_array_mut().into_iter().flatten() {
        let Some(record) = record.as_object_mut() else {
            continue;
        };
        let local = || serde_json::json!({"principalId": "local"});
        record.entry("userIdentity").or_insert_with(local);
        record
            .entry("requestParameters")
            .or_insert_with(|| serde_json::json!({"sourceIPAddress": "127.0.0.1"}));
        record
            .entry("responseElements")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(bucket) = record
            .get_mut("s3")
            .and_then(|s3| s3.get_mut("bucket"))
            .and_then(|b| b.as_object_mut())
        {
            bucket.entry("ownerIdentity").or_insert_with(local);
        }
    }
    match serde_json::from_value(value) {
        Ok(event) => Notification::Event(event),
        Err(error) => Notification::Unreadable(error.to_string()),
    }
}

/// Waits a little for up to `max` messages; none after a failed read, which is logged and
/// followed by a pause so an unreachable emulator is not hammered.
async fn poll(queue: &SqsQueue, max: u32, function: &str) -> Vec<ReceivedMessage> {
    match queue.receive(max, Duration::from_secs(2)).await {
        Ok(messages) => messages,
        Err(error) => {
            tracing::warn!(function, %error, "could not read the function's queue");
            tokio::time::sleep(Duration::from_secs(1)).await;
            Vec::new()
        }
    }
}

/// A function fed by S3 events.
#[derive(Clone)]
pub enum S3Handler {
    CsvPreview(csv_preview::Deps),
}

/// One S3 event source of the template, wired to its function.
pub struct S3Trigger {
    pub function: String,
    pub queue: SqsQueue,
    pub handler: S3Handler,
}

/// How long a handed-out event stays hidden before it is handed out again (a local stand-in for
/// Lambda's retry delay).
const REDELIVERY_SECONDS: &str = "10";

/// Creates the notification queue for `function` and points the bucket's notifications at it.
pub async fn subscribe(
    config: &SdkConfig,
    function: &str,
    bucket: &str,
    events: &[String],
    prefix: Option<&str>,
    handler: S3Handler,
) -> Result<S3Trigger, String> {
    let sqs = store::aws::sqs(config);
    let name = format!("{bucket}-events-{}", function.to_lowercase());
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(80)
        .collect();
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::VisibilityTimeout, REDELIVERY_SECONDS)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
        .queue_url
        .unwrap_or_default();
    let mut queue_config = QueueConfiguration::builder().queue_arn(format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"));
    for event in events {
        queue_config = queue_config.events(Event::from(event.as_str()));
    }
    if let Some(prefix) = prefix {
        let rule = FilterRule::builder().name(FilterRuleName::Prefix).value(prefix).build();
        queue_config = queue_config.filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().filter_rules(rule).build())
                .build(),
        );
    }
    let notifications = NotificationConfiguration::builder()
        .queue_configurations(queue_config.build().map_err(|e| e.to_string())?)
        .build();
    store::aws::s3(config)
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notifications)
        .send()
        .await
        .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
    Ok(S3Trigger {
        function: function.to_owned(),
        queue: SqsQueue::new(sqs, url),
        handler,
    })
}

impl S3Trigger {
    /// Hands events to the function until the process ends.
    pub async fn run(self) {
        loop {
            let messages = poll(&self.queue, 10, &self.function).await;
            for message in messages {
                let handled = match parse_notification(&message.body) {
                    Notification::Test => true,
                    Notification::Unreadable(error) => {
                        tracing::error!(function = %self.function, %error, message = %message.message_id, "an S3 notification could not be read; it is kept for inspection");
                        false
                    }
                    Notification::Event(event) => match &self.handler {
                        S3Handler::CsvPreview(deps) => match csv_preview::handle(deps, event).await {
                            Ok(()) => true,
                            Err(error) => {
                                tracing::warn!(function = %self.function, %error, "invocation failed; the event will be retried");
                                false
                            }
                        },
                    },
                };
                if handled && let Err(error) = self.queue.delete(&message.receipt_handle).await {
                    tracing::warn!(function = %self.function, %error, "could not acknowledge an S3 event");
                }
            }
        }
    }
}

/// A function fed by an SQS queue.
#[derive(Clone)]
pub enum SqsHandler {
    ImportComplete(import_complete::Deps),
    /// The worker and how many tries a job gets.
    SyncWorker(sync_worker::Deps, u32),
}

/// One SQS event source of the template, wired to its function: the dev host polls the queue
/// as Lambda's event source mapping does and hands the function the same event.
pub struct SqsTrigger {
    pub function: String,
    pub queue: SqsQueue,
    /// The queue's ARN, as the event's records name it.
    pub queue_arn: String,
    pub batch_size: u32,
    pub handler: SqsHandler,
}

/// How soon a message the function reported as failed is handed out again (Lambda waits for
/// the visibility timeout; locally that would make a retry take minutes).
const SQS_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The event Lambda's SQS event source mapping sends for these messages.
fn sqs_event(queue_arn: &str, messages: &[ReceivedMessage]) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|message| {
            serde_json::json!({
                "messageId": message.message_id,
                "receiptHandle": message.receipt_handle,
                "body": message.body,
                "attributes": {"ApproximateReceiveCount": message.receive_count.to_string()},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap_or_default()
}

impl SqsTrigger {
    /// Hands messages to the function until the process ends: acknowledges the ones it handled
    /// and hands the ones it reported as failed out again soon (the queue's redrive policy moves
    /// a message to its dead-letter queue after the last try, as in AWS).
    pub async fn run(self) {
        loop {
            let messages = poll(&self.queue, self.batch_size, &self.function).await;
            if messages.is_empty() {
                continue;
            }
            let event = sqs_event(&self.queue_arn, &messages);
            let response = match &self.handler {
                SqsHandler::ImportComplete(deps) => import_complete::handle(deps, event).await,
                SqsHandler::SyncWorker(deps, tries) => sync_worker::handle(deps, *tries, event).await,
            };
            for message in messages {
                let failed = response
                    .batch_item_failures
                    .iter()
                    .any(|failure| failure.item_identifier == message.message_id);
                let acted = if failed {
                    self.queue.retry_after(&message.receipt_handle, SQS_RETRY_DELAY).await
                } else {
                    self.queue.delete(&message.receipt_handle).await
                };
                if let Err(error) = acted {
                    tracing::warn!(function = %self.function, %error, "could not settle a message");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_notifications_are_completed_to_the_real_event_shape() {
        let moto = r#"{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-22T00:33:44.387Z", "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "bucket": {"name": "uploads", "arn": "arn:aws:s3:::uploads"}, "object": {"key": "imports%2Fzz%2Ftest", "size": 1, "eTag": "9dd4"}}}]}"#;
        let Notification::Event(event) = parse_notification(moto) else {
            panic!("readable")
        };
        assert_eq!(event.records[0].s3.object.key.as_deref(), Some("imports%2Fzz%2Ftest"));
    }

    #[test]
    fn received_messages_become_the_event_lambda_sends() {
        let message = ReceivedMessage {
            message_id: "m-1".into(),
            receipt_handle: "r-1".into(),
            body: "{}".into(),
            receive_count: 2,
        };
        let event = sqs_event("arn:aws:sqs:us-east-1:123456789012:q", &[message]);
        let record = &event.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.body.as_deref(), Some("{}"));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "2");
        assert_eq!(
            record.event_source_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:q")
        );
    }

    #[test]
    fn test_events_are_recognised_and_garbage_is_kept() {
        assert!(matches!(
            parse_notification(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#),
            Notification::Test
        ));
        assert!(matches!(parse_notification("not json"), Notification::Unreadable(_)));
        assert!(matches!(
            parse_notification(r#"{"Records": [{"eventName": 5}]}"#),
            Notification::Unreadable(_)
        ));
    }
}

/// One EventBridge schedule of the template (`AWS::Events::Rule` with a `rate(…)` expression)
/// whose target is a queue: the dev host sends the target's `Input` to the queue at that rate,
/// as EventBridge does.
pub struct ScheduleTrigger {
    pub rule: String,
    pub every: Duration,
    pub queue: SqsQueue,
    pub input: String,
}

impl ScheduleTrigger {
    pub async fn run(self) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + self.every, self.every);
        loop {
            ticks.tick().await;
            if let Err(error) = self.queue.send(vec![self.input.clone()]).await {
                tracing::warn!(rule = %self.rule, %error, "a scheduled message could not be sent");
            }
        }
    }
}

/// The period of an EventBridge `rate(value unit)` expression; `None` for anything else (a
/// `cron(…)` is not run locally).
pub fn rate(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (value, unit) = inner.trim().split_once(' ')?;
    let value: u64 = value.parse().ok().filter(|v| *v > 0)?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3_600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(value * seconds))
}

#[cfg(test)]
mod schedule_tests {
    use super::rate;
    use std::time::Duration;

    #[test]
    fn eventbridge_rates_read_as_periods_and_crons_are_not_run() {
        assert_eq!(rate("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(rate("rate(30 minutes)"), Some(Duration::from_secs(1_800)));
        assert_eq!(rate("rate(2 hours)"), Some(Duration::from_secs(7_200)));
        assert_eq!(rate("rate(0 minutes)"), None);
        assert_eq!(rate("cron(0 12 * * ? *)"), None);
    }
}

/// A function the template invokes on a schedule (a SAM `Schedule` event).
#[derive(Clone)]
pub enum ScheduledHandler {
    EnsoraPoller(ensora_poller::Deps),
}

impl ScheduledHandler {
    /// Invokes the function once with the event EventBridge sends, answering what it returned.
    pub async fn invoke(&self, function: &str) -> Result<serde_json::Value, String> {
        let event = serde_json::json!({
            "version": "0",
            "id": uuid_like(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "region": REGION,
            "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{function}")],
            "detail": {},
        });
        match self {
            ScheduledHandler::EnsoraPoller(deps) => ensora_poller::handle(deps, event)
                .await
                .map(|queued| serde_json::json!(queued))
                .map_err(|error| error.to_string()),
        }
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{nanos:032x}")
}

/// One SAM `Schedule` event of the template: the dev host invokes the function at that rate,
/// as EventBridge does (and at once when asked, see the server's `/_dev/functions/…/invoke`).
pub struct FunctionSchedule {
    pub function: String,
    pub every: Duration,
    pub handler: ScheduledHandler,
}

impl FunctionSchedule {
    pub async fn run(self) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + self.every, self.every);
        loop {
            ticks.tick().await;
            if let Err(error) = self.handler.invoke(&self.function).await {
                tracing::warn!(function = %self.function, %error, "a scheduled invocation failed");
            }
        }
    }
}
