//! `ferry`: Ferry from the command line, through its HTTP API only (any deployment, `make up`'s
//! too). `apply -f mirror.yaml` creates or updates the registries and policies a file declares
//! (see `manifest`), `plan -f` shows what that would change, `run POLICY --wait` starts an
//! execution and follows it to its end, `status` and `logs EXECUTION` show where things stand.
//!
//! The endpoint and credentials come from flags, else the environment (`FERRY_URL`,
//! `FERRY_USER`, `FERRY_PASSWORD`), else the config file (`--config`, `FERRY_CONFIG`, or
//! `~/.config/ferry/config.yaml`: `url`, `user`, `password`).
//! Exit codes: 0 done (an execution that succeeded), 1 an execution that failed or was
//! stopped, 2 Ferry could not be asked (flags, file, endpoint, an answer refused).

mod apply;
mod client;
mod manifest;
mod run;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde::Deserialize;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Ferry's registries, policies and executions from the command line"
)]
struct Cli {
    /// Ferry's URL (with or without /api/v2.0).
    #[arg(long, env = "FERRY_URL", global = true)]
    url: Option<String>,
    /// The user: admin, or a robot account (robot$name).
    #[arg(long, env = "FERRY_USER", global = true)]
    user: Option<String>,
    #[arg(long, env = "FERRY_PASSWORD", global = true, hide_env_values = true)]
    password: Option<String>,
    /// A YAML file with url, user and password.
    #[arg(long, env = "FERRY_CONFIG", global = true)]
    config: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or update the registries and policies the file declares.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: String,
        /// Send every declared registry's secret again (after rotating them).
        #[arg(long)]
        secrets: bool,
    },
    /// Show what apply would change, changing nothing.
    Plan {
        #[arg(short = 'f', long = "file")]
        file: String,
    },
    /// Start an execution of a policy (by name or id).
    Run {
        policy: String,
        /// Follow it to its end; the exit code tells how it ended.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// The registries with their health, and the latest executions.
    Status {
        /// Only this policy's executions (name or id).
        policy: Option<String>,
        #[arg(long, default_value_t = 20)]
        last: usize,
    },
    /// The task logs of an execution.
    Logs {
        execution: i64,
        /// Only the failed tasks'.
        #[arg(long)]
        failed: bool,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    url: Option<String>,
    user: Option<String>,
    password: Option<String>,
}

fn config_file(path: Option<&str>) -> Result<ConfigFile, String> {
    let (path, given) = match path {
        Some(path) => (std::path::PathBuf::from(path), true),
        None => match std::env::var_os("HOME") {
            Some(home) => (
                std::path::Path::new(&home).join(".config/ferry/config.yaml"),
                false,
            ),
            None => return Ok(ConfigFile::default()),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(_) if !given => Ok(ConfigFile::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn api(cli: &Cli) -> Result<client::Api, String> {
    let file = config_file(cli.config.as_deref())?;
    let url = cli.url.clone().or(file.url).ok_or(
        "no endpoint: give --url, FERRY_URL or url in the config file (~/.config/ferry/config.yaml)",
    )?;
    let user = cli
        .user
        .clone()
        .or(file.user)
        .unwrap_or_else(|| "admin".into());
    let password = cli
        .password
        .clone()
        .or(file.password)
        .ok_or("no password: give --password, FERRY_PASSWORD or password in the config file")?;
    client::Api::new(&url, &user, &password)
}

async fn main_with(cli: Cli) -> Result<ExitCode, String> {
    let api = api(&cli)?;
    match cli.command {
        Command::Apply { file, secrets } => {
            reconcile(
                &api,
                &file,
                apply::Mode {
                    write: true,
                    secrets,
                },
            )
            .await
        }
        Command::Plan { file } => {
            reconcile(
                &api,
                &file,
                apply::Mode {
                    write: false,
                    secrets: false,
                },
            )
            .await
        }
        Command::Run {
            policy,
            wait,
            timeout,
        } => {
            let id = run::policy_id(&api, &policy)
                .await
                .map_err(|e| e.to_string())?;
            let execution = run::start(&api, id).await.map_err(|e| e.to_string())?;
            if !wait {
                println!("execution {execution} of policy {id} started");
                return Ok(ExitCode::SUCCESS);
            }
            let ended = run::wait(&api, execution, timeout.map(Duration::from_secs))
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", run::summary(&ended));
            Ok(if ended["status"] == "Succeed" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Status { policy, last } => {
            let id = match policy {
                Some(p) => Some(run::policy_id(&api, &p).await.map_err(|e| e.to_string())?),
                None => None,
            };
            print!(
                "{}",
                run::status(&api, id, last.clamp(1, 100))
                    .await
                    .map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { execution, failed } => {
            print!(
                "{}",
                run::logs(&api, execution, failed)
                    .await
                    .map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn reconcile(api: &client::Api, file: &str, mode: apply::Mode) -> Result<ExitCode, String> {
    let manifest = manifest::Manifest::load(file).map_err(|e| e.to_string())?;
    let planned = apply::reconcile(api, &manifest, mode)
        .await
        .map_err(|e| e.to_string())?;
    for p in &planned {
        println!("{p}");
    }
    let changes = planned
        .iter()
        .filter(|p| p.change != apply::Change::Unchanged)
        .count();
    let verb = if mode.write { "applied" } else { "to apply" };
    println!(
        "{changes} change(s) {verb}, {} unchanged",
        planned.len() - changes
    );
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match main_with(cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("ferry: {message}");
            ExitCode::from(2)
        }
    }
}
