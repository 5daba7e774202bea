//! Faults a sandbox can inject into its vendor API, as the control plane asks (`POST
//! /_sandbox/faults`): every sandbox takes the same kinds, and answers each in its vendor's words.

use crate::http::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const KINDS: [&str; 4] = ["status", "slow", "malformed", "lost_answer"];

/// A fault the next matching requests get instead of (or before) their answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// `status` (answer `status` with an error body), `slow` (wait `delay_ms`, then answer
    /// normally), `malformed` (answer 200 with a body that is not JSON) or `lost_answer` (act on
    /// the request, then answer 502 as a gateway that lost the vendor's answer would).
    pub kind: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// How many requests get it.
    #[serde(default = "once")]
    pub times: u32,
    /// Only requests whose path starts with this; by default every API request.
    #[serde(default)]
    pub path_prefix: Option<String>,
}

fn once() -> u32 {
    1
}

/// The faults waiting for requests, in the order they were asked for.
#[derive(Debug, Default)]
pub struct Faults(Vec<Fault>);

impl Faults {
    /// Adds the fault `body` describes: 201, or 400 naming what is wrong with it.
    pub fn add(&mut self, body: Value) -> Response {
        match serde_json::from_value::<Fault>(body) {
            Ok(fault) if KINDS.contains(&fault.kind.as_str()) => {
                self.0.push(fault);
                Response::empty(201)
            }
            Ok(fault) => Response::json(
                400,
                json!({"detail": format!("kind must be one of {}, not {:?}", KINDS.join(", "), fault.kind)}),
            ),
            Err(error) => Response::json(400, json!({"detail": error.to_string()})),
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The control plane's `/_sandbox/faults`, the same in every sandbox: `POST` adds the fault
    /// its body describes, `DELETE` clears them all.
    pub fn control(&mut self, request: &Request) -> Response {
        if request.method == "DELETE" {
            self.clear();
            return Response::empty(204);
        }
        match request.json() {
            Ok(body) => self.add(body),
            Err(response) => response,
        }
    }

    /// The first fault that matches a request for `path`, used up once.
    pub fn take(&mut self, path: &str) -> Option<Fault> {
        let index = self
            .0
            .iter()
            .position(|f| f.times > 0 && f.path_prefix.as_deref().is_none_or(|prefix| path.starts_with(prefix)))?;
        self.0[index].times -= 1;
        let fault = self.0[index].clone();
        self.0.retain(|f| f.times > 0);
        Some(fault)
    }
}
