//! Fixed-window rate limits per API key, as vendors count them: so many requests in a window
//! that starts with the first request after the last one ended.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

struct Window {
    started: Instant,
    started_at: DateTime<Utc>,
    count: u32,
}

/// Every key's current window.
pub struct Windows {
    pub limit: u32,
    pub length: Duration,
    windows: BTreeMap<String, Window>,
}

impl Windows {
    pub fn new(limit: u32, length: Duration) -> Windows {
        Windows {
            limit,
            length,
            windows: BTreeMap::new(),
        }
    }

    /// Counts a request of `key` in its window: when the window ends, if it is full.
    pub fn admit(&mut self, key: &str) -> Result<(), DateTime<Utc>> {
        let (limit, length) = (self.limit, self.length);
        let fresh = || Window {
            started: Instant::now(),
            started_at: Utc::now(),
            count: 0,
        };
        let window = self.windows.entry(key.to_owned()).or_insert_with(fresh);
        if window.started.elapsed() >= length {
            *window = fresh();
        }
        if window.count >= limit {
            return Err(window.started_at + chrono::Duration::from_std(length).unwrap_or_default());
        }
        window.count += 1;
        Ok(())
    }
}
