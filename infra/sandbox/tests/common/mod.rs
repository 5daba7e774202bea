//! What the sandbox tests share: a webhook receiver that records what arrives.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A webhook as received: its signature header and raw body.
pub type Received = (Option<String>, Bytes);

/// A webhook receiver that records what it gets and answers each request with the next status
/// of `answers` (the last one once they run out).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
}

///
/// It listens at `path` and records the `signature_header` of each request.
pub async fn receiver(path: &str, signature_header: &'static str, answers: Vec<u16>) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let answers = Arc::new(Mutex::new(answers));
    let recorded = got.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (recorded, answers) = (recorded.clone(), answers.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (recorded, answers) = (recorded.clone(), answers.clone());
                    async move {
                        let signature = request
                            .headers()
                            .get(signature_header)
                            .map(|h| h.to_str().unwrap().to_owned());
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        recorded.lock().unwrap().push((signature, body));
                        let status = {
                            let mut answers = answers.lock().unwrap();
                            if answers.len() > 1 {
                                answers.remove(0)
                            } else {
                                answers[0]
                            }
                        };
                        let mut response = hyper::Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Receiver { url, got }
}

impl Receiver {
    /// Waits (briefly) until `count` requests have arrived, and returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.got.lock().unwrap().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.got.lock().unwrap().clone()
    }
}
