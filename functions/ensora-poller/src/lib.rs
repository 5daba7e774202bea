//! The `ensora-poller` function: an EventBridge schedule (every 30 minutes) invokes it, and it
//! puts one Ensora poll job on the sync queue for each group with Ensora active, read from the
//! list of active integrations (never a scan of the table). The sync worker does the polls, so
//! one group's slow organization never holds up another's.

pub use app::Deps;

/// What one invocation queued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Queued {
    pub polls: usize,
}

/// Handles one scheduled event (its content is not needed: every invocation does the same).
/// An error makes Lambda retry the invocation; polls queued twice are harmless, as a group's
/// second poll stands down while its first holds the lease, or finds nothing new.
pub async fn handle(deps: &Deps, _event: serde_json::Value) -> Result<Queued, app::AppError> {
    let polls = app::integrations::ensora::queue_polls(deps).await?;
    tracing::info!(polls, "Ensora polls queued");
    Ok(Queued { polls })
}
