//! `ferry-local`: the local event plane's command line, used by `make up`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ferry_local::stack::{bootstrap, BootstrapOptions};
use ferry_local::template::{StackSettings, Template};
use ferry_local::{FunctionsFrom, IamGuardSetting, Plane, PlaneConfig};

#[derive(Parser)]
#[command(about = "Ferry's local event plane")]
struct Cli {
    #[arg(long, default_value = "infra/template.yaml")]
    template: PathBuf,
    /// The stack name the template's names are made from.
    #[arg(long, default_value = "ferry-local")]
    stack: String,
    /// Template parameters, NAME=VALUE.
    #[arg(long = "param", value_parser = parse_pair)]
    params: Vec<(String, String)>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the stack's resources and write the functions' environment to a file.
    Bootstrap {
        #[arg(long)]
        env_file: PathBuf,
    },
    /// Create the resources, then deliver events to the functions until interrupted.
    Serve {
        /// Invoke endpoint of `cargo lambda watch`.
        #[arg(long, conflicts_with = "binaries")]
        invoke_url: Option<String>,
        /// Run the function binaries from this directory instead.
        #[arg(long)]
        binaries: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Instances per function, BINARY=N.
        #[arg(long = "concurrency", value_parser = parse_count)]
        concurrency: Vec<(String, usize)>,
        /// Where the IAM guard listens: the functions' AWS endpoint, which refuses the calls
        /// their policies in the template do not allow and forwards the rest to the endpoints
        /// in this process's AWS_ENDPOINT_URL variables. Functions run by `cargo lambda watch`
        /// must be given this address as AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB.
        #[arg(long, default_value = "127.0.0.1:4568")]
        iam_guard: SocketAddr,
        /// Let the functions' calls through unchecked.
        #[arg(long, conflicts_with = "iam_guard")]
        no_iam_guard: bool,
    },
    /// Print the metrics the functions wrote (embedded metric format documents in the file
    /// their FERRY_METRICS_FILE names), summed per metric and dimensions.
    Metrics {
        #[arg(long, default_value = ".local/metrics.jsonl")]
        file: PathBuf,
    },
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))
}

fn parse_count(text: &str) -> Result<(String, usize), String> {
    let (name, count) = parse_pair(text)?;
    Ok((name, count.parse().map_err(|e| format!("{text}: {e}"))?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ferry::telemetry::init();
    let cli = Cli::parse();
    if let Command::Metrics { file } = &cli.command {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("{}: {e} (is `make up` running?)", file.display()))?;
        print!(
            "{}",
            ferry_local::metrics::render(&ferry_local::metrics::read(&text)?)
        );
        return Ok(());
    }
    let sdk = ferry::adapters::aws::load_config().await;
    let template = Template::load(&cli.template)?;
    let mut parameters = template.parameter_defaults();
    // The local registries are on loopback; `--param` can still say otherwise.
    parameters.insert("AllowPrivateRegistryAddresses".into(), "true".into());
    parameters.extend(cli.params);
    let settings = StackSettings {
        stack_name: cli.stack,
        region: sdk
            .region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string()),
        account: "123456789012".into(),
        parameters,
    };
    match cli.command {
        Command::Bootstrap { env_file } => {
            let stack = bootstrap(&sdk, &template, settings, &BootstrapOptions::default()).await?;
            if let Some(dir) = env_file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&env_file, stack.env_file())?;
            println!(
                "stack {} ready; functions' environment in {}",
                stack.settings.stack_name,
                env_file.display()
            );
        }
        Command::Serve {
            invoke_url,
            binaries,
            http,
            concurrency,
            iam_guard,
            no_iam_guard,
        } => {
            let functions = match (invoke_url, binaries) {
                (Some(url), _) => FunctionsFrom::Endpoint(url),
                (None, Some(dir)) => FunctionsFrom::Binaries(dir),
                (None, None) => anyhow::bail!("give --invoke-url or --binaries"),
            };
            let child_env = std::env::vars()
                .filter(|(k, _)| {
                    k.starts_with("AWS_") || k.starts_with("FERRY_") || k == "RUST_LOG"
                })
                .collect();
            let plane = Plane::start(PlaneConfig {
                template: cli.template,
                sdk,
                settings,
                bootstrap: BootstrapOptions::default(),
                functions,
                concurrency,
                http: Some(http),
                child_env,
                schedules: true,
                unpolled_queues: Vec::new(),
                iam_guard: if no_iam_guard {
                    IamGuardSetting::Off
                } else {
                    IamGuardSetting::On(iam_guard)
                },
            })
            .await?;
            for f in &plane.stack.functions {
                let sources: Vec<&str> = f
                    .sqs_sources
                    .iter()
                    .map(|s| s.queue_logical_id.as_str())
                    .collect();
                println!(
                    "function {:<16} sqs {:?}{}",
                    f.binary,
                    sources,
                    if f.http_api { " http" } else { "" }
                );
            }
            if let Some(guard) = plane.iam_guard_address() {
                println!("IAM guard on http://{guard}: the functions' calls are held to their template policies");
            }
            println!(
                "event plane ready; API gateway on http://{}",
                plane.http_address.unwrap_or(http)
            );
            tokio::signal::ctrl_c().await?;
            #[cfg(unix)]
            {}
            plane.stop().await;
        }
        Command::Metrics { .. } => {}
    }
    Ok(())
}
