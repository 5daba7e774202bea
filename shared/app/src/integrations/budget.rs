//! Request budgets that every function calling one vendor account shares (Cliniko allows 200
//! requests a minute per user): two syncs in two Lambdas at once stay under the limit together,
//! because the count is kept in DynamoDB, not in a process.
//!
//! Time is cut into slices; each slice admits a fixed number of requests, taken by a counted,
//! conditioned write. A window of the vendor's length spans at most `slices + 1` slices, so
//! admitting `requests / (slices + 1)` a slice keeps every window, however it is placed, under
//! the limit. (With 12 slices of 5 s, 15 a slice: at most 180 in any minute.)

use crate::Deps;
use async_trait::async_trait;
use connectors::ConnectorError;
use connectors::http::Gate;
use model::GroupId;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use store::{Condition, StoreError, Write, keys};

/// A vendor's limit: at most `requests` in any `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

/// How many slices a window is cut into, at most.
const SLICES: u32 = 12;

/// The longest a request waits for its turn before the call gives up (and the job is retried).
const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// How a limit is cut: the slice length and what each slice admits.
pub fn slicing(limit: RateLimit) -> (Duration, u64) {
    let slices = SLICES.min(limit.requests.saturating_sub(1)).max(1);
    let per_slice = u64::from(limit.requests / (slices + 1)).max(1);
    // Whole milliseconds, rounded up: a window then never spans more than `slices + 1`.
    let slice_ms = (limit.per.as_millis() as u64).div_ceil(u64::from(slices)).max(1);
    (Duration::from_millis(slice_ms), per_slice)
}

/// One group's share of a vendor's limit, spent by every function that calls it.
pub struct SharedBudget {
    deps: Deps,
    group: GroupId,
    name: &'static str,
    slice: Duration,
    per_slice: u64,
    vendor: &'static str,
}

impl SharedBudget {
    pub fn new(deps: &Deps, group: &GroupId, vendor: &'static str, name: &'static str, limit: RateLimit) -> Self {
        let (slice, per_slice) = slicing(limit);
        SharedBudget {
            deps: deps.clone(),
            group: group.clone(),
            name,
            slice,
            per_slice,
            vendor,
        }
    }
}

#[async_trait]
impl Gate for SharedBudget {
    async fn wait_turn(&self) -> Result<(), ConnectorError> {
        let slice_ms = self.slice.as_millis().max(1) as u64;
        let started = SystemTime::now();
        loop {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            let slice = now_ms / slice_ms;
            let take = Write::Count {
                key: keys::budget_slice(&self.group, self.name, slice),
                by: 1,
                condition: Condition::VersionBelow(self.per_slice),
                // A slice counts only while it lasts; DynamoDB's TTL removes it a day later.
                expires_at: Some(i64::try_from((slice + 1) * slice_ms / 1_000).unwrap_or(i64::MAX) + 86_400),
            };
            match self.deps.records.write(vec![take]).await {
                Ok(()) => return Ok(()),
                Err(StoreError::VersionConflict { .. }) => {
                    if started.elapsed().unwrap_or_default() > LONGEST_WAIT {
                        return Err(ConnectorError::Unavailable {
                            vendor: self.vendor,
                            status: None,
                            tries: 0,
                            detail: "its request budget stayed spent for five minutes".into(),
                        });
                    }
                    // This slice is spent: wait for the next one, a little staggered so the
                    // waiting functions do not all ask at the same instant.
                    let next = (slice + 1) * slice_ms;
                    let stagger = u64::from(std::process::id() % 7) * 3;
                    tokio::time::sleep(Duration::from_millis(next.saturating_sub(now_ms) + stagger)).await;
                }
                Err(error) => {
                    return Err(ConnectorError::Unavailable {
                        vendor: self.vendor,
                        status: None,
                        tries: 0,
                        detail: format!("its request budget could not be read: {error}"),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most a slicing admits in any window of the limit's length, over every placement.
    fn most_in_any_window(limit: RateLimit) -> u64 {
        let (slice, per_slice) = slicing(limit);
        let window = limit.per.as_millis() as u64;
        let slice = slice.as_millis() as u64;
        (0..slice)
            .map(|offset| {
                // Slices the window [offset, offset + window) touches.
                let first = offset / slice;
                let last = (offset + window - 1) / slice;
                (last - first + 1) * per_slice
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn no_window_however_placed_takes_more_than_the_limit() {
        for (requests, seconds) in [(200, 60), (40, 2), (10, 1), (3, 1), (2, 1), (1000, 60)] {
            let limit = RateLimit {
                requests,
                per: Duration::from_secs(seconds),
            };
            assert!(
                most_in_any_window(limit) <= u64::from(requests),
                "{requests} per {seconds} s: {:?}",
                slicing(limit)
            );
        }
    }

    #[test]
    fn clinikos_limit_is_cut_into_twelve_slices_of_fifteen() {
        let (slice, per_slice) = slicing(RateLimit {
            requests: 200,
            per: Duration::from_secs(60),
        });
        assert_eq!((slice, per_slice), (Duration::from_secs(5), 15));
    }
}
