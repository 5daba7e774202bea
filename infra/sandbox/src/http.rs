//! The plumbing every sandbox shares: a hyper server, requests read whole, JSON answers.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Bodies larger than this are refused; no vendor call carebridge makes comes near it.
const MAX_BODY: usize = 5 * 1024 * 1024;

/// A request, read whole.
pub struct Request {
    pub method: String,
    /// The path's segments, without empty ones: `/api/2.0/patients/` is `["api", "2.0", "patients"]`.
    pub segments: Vec<String>,
    pub path: String,
    /// The query's parameters by name (the last one of a repeated name).
    pub query: HashMap<String, String>,
    /// Every query parameter in order, repeats included (`q[]=…&q[]=…`).
    pub query_pairs: Vec<(String, String)>,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn json(&self) -> Result<Value, Response> {
        serde_json::from_slice(&self.body).map_err(|error| {
            Response::json(
                400,
                serde_json::json!({"detail": format!("JSON parse error - {error}")}),
            )
        })
    }

    /// The body as a JSON object, or the 400 a Django REST Framework API gives for anything else.
    pub fn object(&self) -> Result<serde_json::Map<String, Value>, Response> {
        match self.json()? {
            Value::Object(body) => Ok(body),
            _ => Err(Response::json(
                400,
                serde_json::json!({"non_field_errors": ["Invalid data. Expected a dictionary."]}),
            )),
        }
    }

    /// A control-plane body of one record or a list of them (a user adding one, or importing
    /// many); `what` names them in the 400 otherwise.
    pub fn objects(&self, what: &str) -> Result<Vec<serde_json::Map<String, Value>>, Response> {
        let refused = || {
            Response::json(
                400,
                serde_json::json!({"message": format!("send a {what} or a list of them, each an object")}),
            )
        };
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(one)) => Ok(vec![one]),
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(one) => Ok(one),
                    _ => Err(refused()),
                })
                .collect(),
            _ => Err(refused()),
        }
    }

    /// The body as an HTML form (`application/x-www-form-urlencoded`).
    pub fn form(&self) -> HashMap<String, String> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

/// An answer.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn json(status: u16, body: Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: Bytes::from(body.to_string()),
            headers: Vec::new(),
        }
    }

    /// 201 with the one record a control-plane call made, or the list when it made several.
    pub fn created(mut made: Vec<Value>) -> Response {
        match made.len() {
            1 => Response::json(201, made.remove(0)),
            _ => Response::json(201, Value::Array(made)),
        }
    }

    pub fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: Bytes::new(),
            headers: Vec::new(),
        }
    }

    /// A body that is not valid JSON, for fault injection.
    pub fn raw(status: u16, body: &'static str) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: Bytes::from_static(body.as_bytes()),
            headers: Vec::new(),
        }
    }
}

pub type Handler = Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// A sandbox serving in the background until dropped or stopped.
pub struct Running {
    pub address: SocketAddr,
    stop: watch::Sender<bool>,
}

impl Running {
    /// `http://127.0.0.1:PORT`, with no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `handler` on `listener` in the background until `stop` says so (the returned
/// `Running` says so when dropped); the sandbox's own background work watches the same signal.
pub fn serve(listener: TcpListener, handler: Handler, stop: watch::Sender<bool>) -> std::io::Result<Running> {
    let address = listener.local_addr()?;
    let mut stopped = stop.subscribe();
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "sandbox accept failed");
                        continue;
                    }
                },
                _ = stopped.changed() => return,
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(answer(&handler, request).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Running { address, stop })
}

async fn answer(handler: &Handler, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let response = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => {
            let path = parts.uri.path().to_owned();
            let query_pairs: Vec<(String, String)> = parts
                .uri
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default();
            let request = Request {
                method: parts.method.as_str().to_owned(),
                segments: path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                path,
                query: query_pairs.iter().cloned().collect(),
                query_pairs,
                headers: parts.headers,
                body: body.to_bytes(),
            };
            handler(request).await
        }
        Err(_) => Response::json(413, serde_json::json!({"detail": "Request body too large."})),
    };
    let mut builder = hyper::Response::builder()
        .status(response.status)
        .header("content-type", response.content_type);
    for (name, value) in &response.headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(response.body))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}
