//! Runs the Elation sandbox on its own: `carebridge-sandbox [--port N]`.
//! The local stack (`infra/local/up`) starts it beside the dev host; this is for poking at it.

use sandbox::elation::{self, Config};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args: Vec<String> = std::env::args().collect();
    let port = match args.iter().position(|a| a == "--port") {
        Some(i) => args.get(i + 1).and_then(|p| p.parse().ok()).unwrap_or(0),
        None => 0,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let config = Config {
        clients: vec![elation::demo_client()],
        ..Config::default()
    };
    let running = elation::start(listener, config)?;
    let demo = elation::demo_client();
    println!("Elation sandbox: {}/api/2.0/", running.base_url());
    println!("  client_id {} client_secret {}", demo.client_id, demo.client_secret);
    println!("  control plane: {}/_sandbox/", running.base_url());
    tokio::signal::ctrl_c().await?;
    running.stop();
    Ok(())
}
