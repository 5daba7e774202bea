//! What the dev host's functions ask of DynamoDB, watched per group: how many requests of each
//! kind each function sent, and, on request, a failure injected into one of them, as if the
//! function had died right there. Tests use it to hold the import to its request budget and to
//! kill a completion halfway through; the requests themselves go to DynamoDB Local unchanged.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Requests to DynamoDB that read.
const READS: &[&str] = &["GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"];
/// Requests to DynamoDB that write.
const WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// Requests one function sent for one group, by operation (`Query`, `PutItem` …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requests(pub HashMap<String, u32>);

impl Requests {
    pub fn reads(&self) -> u32 {
        self.sum(READS)
    }

    pub fn writes(&self) -> u32 {
        self.sum(WRITES)
    }

    fn sum(&self, operations: &[&str]) -> u32 {
        operations.iter().filter_map(|op| self.0.get(*op)).sum()
    }
}

#[derive(Debug, Default)]
struct Watch {
    /// By function (its logical id in the template).
    requests: HashMap<String, Requests>,
    /// Fail the write after this many more writes by `function`.
    fail_write_after: Option<(String, u32)>,
    failures_injected: u32,
}

/// Every watched group's observations, shared by the functions' DynamoDB clients.
#[derive(Debug, Default)]
pub struct Observations {
    groups: Mutex<HashMap<String, Watch>>,
}

/// A failure injected into a DynamoDB request.
#[derive(Debug, thiserror::Error)]
#[error("the dev host injected a failure into {operation} for group {group}")]
pub struct InjectedFailure {
    pub operation: String,
    pub group: String,
}

impl Observations {
    /// Starts (or restarts) counting the requests that concern `group`.
    pub fn watch(&self, group: &str) {
        self.lock().insert(group.to_owned(), Watch::default());
    }

    /// The requests `function` sent for `group` since [`Observations::watch`].
    pub fn requests(&self, group: &str, function: &str) -> Requests {
        self.lock()
            .get(group)
            .and_then(|watch| watch.requests.get(function).cloned())
            .unwrap_or_default()
    }

    /// Lets `function` make `writes` more writes for `group`, then fails the next one (once).
    pub fn fail_write_after(&self, group: &str, function: &str, writes: u32) {
        self.lock().entry(group.to_owned()).or_default().fail_write_after = Some((function.to_owned(), writes));
    }

    /// How many failures were injected for `group`.
    pub fn failures_injected(&self, group: &str) -> u32 {
        self.lock().get(group).map_or(0, |watch| watch.failures_injected)
    }

    /// The interceptor a function's DynamoDB client reports to.
    pub fn interceptor(self: &Arc<Self>, function: &str) -> Observer {
        Observer {
            function: function.to_owned(),
            observations: Arc::clone(self),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watch>> {
        // A test that panicked while holding the lock leaves counts that are still usable.
        self.groups.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn observe(&self, function: &str, operation: &str, body: &[u8]) -> Result<(), InjectedFailure> {
        let mut groups = self.lock();
        if groups.is_empty() {
            return Ok(());
        }
        let body = String::from_utf8_lossy(body);
        // Every key starts with its group's partition (`G#acme`, or `G#acme#…` for its lookup
        // keys); the request names it as a JSON string.
        let Some((group, watch)) = groups
            .iter_mut()
            .find(|(group, _)| body.contains(&format!("\"G#{group}\"")) || body.contains(&format!("\"G#{group}#")))
        else {
            return Ok(());
        };
        *watch
            .requests
            .entry(function.to_owned())
            .or_default()
            .0
            .entry(operation.to_owned())
            .or_default() += 1;
        if WRITES.contains(&operation)
            && let Some((target, remaining)) = &mut watch.fail_write_after
            && target == function
        {
            if *remaining == 0 {
                watch.fail_write_after = None;
                watch.failures_injected += 1;
                return Err(InjectedFailure {
                    operation: operation.to_owned(),
                    group: group.clone(),
                });
            }
            *remaining -= 1;
        }
        Ok(())
    }
}

/// Reports one function's DynamoDB requests to the shared [`Observations`].
#[derive(Debug)]
pub struct Observer {
    function: String,
    observations: Arc<Observations>,
}

impl Intercept for Observer {
    fn name(&self) -> &'static str {
        "carebridge-dev-observer"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        let body = request.body().bytes().unwrap_or_default();
        self.observations.observe(&self.function, &operation, body)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: &[u8] = br#"{"TableName":"t","ExpressionAttributeValues":{":pk":{"S":"G#acme"}}}"#;
    const PUT: &[u8] = br#"{"TableName":"t","Item":{"pk":{"S":"G#acme"},"sk":{"S":"PATIENT#1"}}}"#;

    #[test]
    fn requests_are_counted_per_watched_group_and_function() {
        let observations = Observations::default();
        observations.observe("Api", "Query", QUERY).unwrap();
        observations.watch("acme");
        observations.observe("Preview", "Query", QUERY).unwrap();
        observations.observe("Preview", "PutItem", PUT).unwrap();
        observations
            .observe("Preview", "Query", br#"{"S":"G#acme-two"}"#)
            .unwrap();
        observations
            .observe("Preview", "BatchGetItem", br#"{"S":"G#acme#KEYS"}"#)
            .unwrap();
        let seen = observations.requests("acme", "Preview");
        assert_eq!(
            (seen.reads(), seen.writes()),
            (2, 1),
            "the group's own partition and its keys'"
        );
        assert_eq!(observations.requests("acme", "Api"), Requests::default());
    }

    #[test]
    fn an_injected_failure_hits_the_chosen_write_once() {
        let observations = Observations::default();
        observations.watch("acme");
        observations.fail_write_after("acme", "Complete", 1);
        assert!(observations.observe("Complete", "PutItem", PUT).is_ok());
        assert!(observations.observe("Complete", "Query", QUERY).is_ok());
        assert!(observations.observe("Other", "PutItem", PUT).is_ok());
        assert!(observations.observe("Complete", "PutItem", PUT).is_err());
        assert!(observations.observe("Complete", "PutItem", PUT).is_ok());
        assert_eq!(observations.failures_injected("acme"), 1);
    }
}
