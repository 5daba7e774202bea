//! `carebridge-dev`: the local stack's command line.
//!
//!     carebridge-dev serve [--port 3000] [--elation-port 4010] [--cliniko-port 4020] [--hint-port 4030] [--salesforce-port 4040] [--ensora-port 4050] [--stage local] [--template template.yaml]
//!     carebridge-dev token --groups acme[,beta] [--roles group_admin,...] [--sub dev-user] [--ttl 3600]
//!     carebridge-dev provision [--stage local] [--template template.yaml]
//!     carebridge-dev help (or --help after any command)
//!
//! `serve` and `provision` talk to the emulators named by `AWS_ENDPOINT_URL*` (infra/local/up
//! starts them and sets these).

use devhost::auth::DevAuth;
use std::path::PathBuf;
use std::process::ExitCode;

struct Args {
    command: String,
    options: Vec<(String, String)>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        Args::from(std::env::args().skip(1))
    }

    /// `--help` (or `-h`) anywhere asks for the usage, whatever else is given.
    fn from(args: impl Iterator<Item = String>) -> Result<Args, String> {
        let args: Vec<String> = args.collect();
        if args.iter().any(|a| a == "--help" || a == "-h") {
            return Ok(Args {
                command: "help".into(),
                options: Vec::new(),
            });
        }
        let mut raw = args.into_iter();
        let command = raw.next().unwrap_or_else(|| "serve".into());
        let mut options = Vec::new();
        while let Some(flag) = raw.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument `{flag}`"))?;
            let value = raw.next().ok_or_else(|| format!("--{name} needs a value"))?;
            options.push((name.to_owned(), value));
        }
        Ok(Args { command, options })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn list(&self, name: &str) -> Vec<&str> {
        self.get(name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    fn template(&self) -> PathBuf {
        self.get("template")
            .map(PathBuf::from)
            .unwrap_or_else(devhost::default_template_path)
    }
}

const USAGE: &str = "usage:
  carebridge-dev serve [--port 3000] [--elation-port 4010] [--cliniko-port 4020] [--hint-port 4030] [--salesforce-port 4040] [--ensora-port 4050] [--stage local] [--template template.yaml]
  carebridge-dev token --groups acme[,beta] [--roles platform_admin,group_admin,...] [--sub dev-user] [--ttl 3600]
  carebridge-dev provision [--stage local] [--template template.yaml]";

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "token" => token(&args),
        "serve" => serve(&args).await,
        "provision" => provision(&args).await,
        "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("carebridge-dev: {message}");
            ExitCode::FAILURE
        }
    }
}

fn token(args: &Args) -> Result<(), String> {
    let groups = args.list("groups");
    if groups.is_empty() && !args.list("roles").contains(&"platform_admin") {
        return Err("name the groups the token reaches with --groups acme[,beta]".into());
    }
    let ttl = args
        .get("ttl")
        .unwrap_or("3600")
        .parse::<i64>()
        .map_err(|_| "--ttl is a number of seconds")?;
    let token = DevAuth::from_env().mint(args.get("sub").unwrap_or("dev-user"), &groups, &args.list("roles"), ttl);
    println!("{token}");
    Ok(())
}

async fn provision(args: &Args) -> Result<(), String> {
    let config = store::aws::load_config().await;
    let stage = args.get("stage").unwrap_or("local");
    let stack = devhost::build(
        &args.template(),
        stage,
        &config,
        DevAuth::from_env(),
        "http://127.0.0.1:3000",
        &devhost::SandboxesAt::local(),
    )
    .await
    .map_err(|e| e.to_string())?;
    println!("{:#?}", stack.provisioned);
    Ok(())
}

async fn serve(args: &Args) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    let config = store::aws::load_config().await;
    let stage = args.get("stage").unwrap_or("local");
    let port = args.get("port").unwrap_or("3000");
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let url = format!("http://127.0.0.1:{port}");
    // The Cliniko, Hint and Ensora sandboxes' ports are taken first: the functions are told
    // where they answer.
    let cliniko_port = args.get("cliniko-port").unwrap_or("4020");
    let cliniko_listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{cliniko_port}"))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{cliniko_port} for the Cliniko sandbox: {e}"))?;
    let hint_port = args.get("hint-port").unwrap_or("4030");
    let hint_listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{hint_port}"))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{hint_port} for the Hint sandbox: {e}"))?;
    let ensora_port = args.get("ensora-port").unwrap_or("4050");
    let ensora_listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{ensora_port}"))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{ensora_port} for the Ensora sandbox: {e}"))?;
    let sandboxes = devhost::SandboxesAt::new(
        format!("http://127.0.0.1:{cliniko_port}/{{shard}}/v1"),
        format!("http://127.0.0.1:{hint_port}/api"),
        format!("http://127.0.0.1:{ensora_port}"),
    );
    let mut stack = devhost::build(&args.template(), stage, &config, DevAuth::from_env(), &url, &sandboxes)
        .await
        .map_err(|e| format!("{e}\n(are the emulators running? infra/local/up starts them)"))?;
    stack.start_triggers();
    // The vendor sandboxes run beside the functions, so the whole flow works on a laptop.
    let elation_port = args.get("elation-port").unwrap_or("4010");
    let elation_listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{elation_port}"))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{elation_port} for the Elation sandbox: {e}"))?;
    let demo = sandbox::elation::demo_client();
    let elation = sandbox::elation::start(
        elation_listener,
        sandbox::elation::Config {
            clients: vec![demo.clone()],
            ..Default::default()
        },
    )
    .map_err(|e| format!("cannot start the Elation sandbox: {e}"))?;
    let cliniko = sandbox::cliniko::start(
        cliniko_listener,
        sandbox::cliniko::Config {
            keys: vec![sandbox::cliniko::DEMO_KEY.into()],
            ..Default::default()
        },
    )
    .map_err(|e| format!("cannot start the Cliniko sandbox: {e}"))?;
    let hint_practice = sandbox::hint::demo_practice();
    let hint = sandbox::hint::start(
        hint_listener,
        sandbox::hint::Config {
            practices: vec![hint_practice.clone()],
            ..Default::default()
        },
    )
    .map_err(|e| format!("cannot start the Hint sandbox: {e}"))?;
    let salesforce_port = args.get("salesforce-port").unwrap_or("4040");
    let salesforce_listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{salesforce_port}"))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{salesforce_port} for the Salesforce sandbox: {e}"))?;
    let salesforce_org = sandbox::salesforce::demo_org();
    let salesforce = sandbox::salesforce::start(
        salesforce_listener,
        sandbox::salesforce::Config {
            orgs: vec![salesforce_org.clone()],
            ..Default::default()
        },
    )
    .map_err(|e| format!("cannot start the Salesforce sandbox: {e}"))?;
    let ensora_client = sandbox::ensora::demo_client();
    let ensora = sandbox::ensora::start(
        ensora_listener,
        sandbox::ensora::Config {
            clients: vec![ensora_client.clone()],
        },
    )
    .map_err(|e| format!("cannot start the Ensora sandbox: {e}"))?;
    let functions: String = stack
        .functions
        .iter()
        .map(|(name, triggers)| format!("\n    {name:<24} {triggers}"))
        .collect();
    let table = stack.provisioned.tables.values().next().cloned().unwrap_or_default();
    println!(
        "\ncarebridge is running (stage `{stage}`)\n\
         \x20 API            {url}/v1\n\
         \x20 OpenAPI        {url}/v1/openapi.json\n\
         \x20 DynamoDB Local {} (table {table})\n\
         \x20 moto (S3, SQS, Secrets Manager) {}\n\
         \x20 Elation sandbox {elation_url}/api/2.0/ (client_id {client_id}, client_secret {client_secret})\n\
         \x20   its control plane {elation_url}/_sandbox/\n\
         \x20 Cliniko sandbox {cliniko_url}/{{shard}}/v1/ (API key {cliniko_key})\n\
         \x20   its control plane {cliniko_url}/_sandbox/\n\
         \x20 Hint sandbox {hint_url}/api/provider/ (practice {hint_id}, API key {hint_key}, webhook signature key {hint_signing})\n\
         \x20   its control plane {hint_url}/_sandbox/\n\
         \x20 Salesforce sandbox {salesforce_url}/{sf_org}/ (My Domain of org {sf_org}; client_id {sf_id}, client_secret {sf_secret}, account {sf_account})\n\
         \x20   its control plane {salesforce_url}/_sandbox/\n\
         \x20 Ensora sandbox {ensora_url}/v1/ (organization {ensora_org}; client_id {ensora_id}, client_secret {ensora_secret})\n\
         \x20   its control plane {ensora_url}/_sandbox/\n\
         \x20 Functions{functions}\n\n\
         Mint a token:  TOKEN=$(infra/local/token --groups acme --roles platform_admin,group_admin)\n\
         Try it:        curl -s -H \"Authorization: Bearer $TOKEN\" {url}/v1/groups\n\
         Stop with Ctrl-C.\n",
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default(),
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(),
        elation_url = elation.base_url(),
        client_id = demo.client_id,
        client_secret = demo.client_secret,
        cliniko_url = cliniko.base_url(),
        cliniko_key = sandbox::cliniko::DEMO_KEY,
        hint_url = hint.base_url(),
        hint_id = hint_practice.id,
        hint_key = hint_practice.api_key,
        hint_signing = hint_practice.signature_key,
        salesforce_url = salesforce.base_url(),
        sf_org = salesforce_org.name,
        sf_id = salesforce_org.app.client_id,
        sf_secret = salesforce_org.app.client_secret,
        sf_account = salesforce_org.account_id,
        ensora_url = ensora.base_url(),
        ensora_org = ensora_client.organization,
        ensora_id = ensora_client.client_id,
        ensora_secret = ensora_client.client_secret,
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    devhost::server::serve(listener, stack.host, shutdown).await;
    elation.stop();
    cliniko.stop();
    hint.stop();
    salesforce.stop();
    ensora.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Args;

    fn parse(line: &str) -> Result<Args, String> {
        Args::from(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn help_anywhere_asks_for_the_usage() {
        for line in ["--help", "token --help", "-h", "token --groups acme --help", "serve -h"] {
            assert_eq!(parse(line).unwrap().command, "help", "{line}");
        }
        assert_eq!(parse("token --groups acme").unwrap().get("groups"), Some("acme"));
        assert!(parse("token --groups").is_err());
    }
}
