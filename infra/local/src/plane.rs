//! The event plane put together: stack, functions, event source mappings, gateway, schedules.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::SdkConfig;

use crate::invoke::{HttpInvoker, Invoker, RuntimeHost};
use crate::stack::{bootstrap, BootstrapOptions, FunctionSpec, Stack};
use crate::template::{StackSettings, Template};

pub enum FunctionsFrom {
    /// Run the built binaries in this directory (target/debug, say).
    Binaries(PathBuf),
    /// Invoke through an endpoint that runs them, such as `cargo lambda watch`.
    Endpoint(String),
}

pub struct PlaneConfig {
    pub template: PathBuf,
    pub sdk: SdkConfig,
    pub settings: StackSettings,
    pub bootstrap: BootstrapOptions,
    pub functions: FunctionsFrom,
    /// Instances per function binary; functions not named get one.
    pub concurrency: Vec<(String, usize)>,
    /// Where the HTTP API listens; None for no gateway.
    pub http: Option<SocketAddr>,
    /// Variables every function process gets besides its template environment (the AWS
    /// endpoint and credentials, the local admin password, RUST_LOG).
    pub child_env: Vec<(String, String)>,
    pub schedules: bool,
    /// Queues (logical ids) whose event source mappings are left off, so a test can read what
    /// lands there before a function does.
    pub unpolled_queues: Vec<String>,
}

pub struct Plane {
    pub stack: Arc<Stack>,
    pub invoker: Arc<dyn Invoker>,
    pub http_address: Option<SocketAddr>,
    host: Option<Arc<RuntimeHost>>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Plane {
    /// Creates the stack's resources (idempotently), then starts everything.
    pub async fn start(config: PlaneConfig) -> anyhow::Result<Self> {
        let template = Template::load(&config.template)?;
        let stack =
            Arc::new(bootstrap(&config.sdk, &template, config.settings, &config.bootstrap).await?);
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        let concurrency = |f: &FunctionSpec| {
            config
                .concurrency
                .iter()
                .find(|(name, _)| *name == f.binary || *name == f.logical_id)
                .map_or(1, |(_, n)| *n)
        };
        let (invoker, host): (Arc<dyn Invoker>, Option<Arc<RuntimeHost>>) = match config.functions {
            FunctionsFrom::Binaries(dir) => {
                let host = Arc::new(
                    RuntimeHost::start(&stack.functions, dir, &concurrency, &config.child_env)
                        .await?,
                );
                (Arc::clone(&host) as Arc<dyn Invoker>, Some(host))
            }
            FunctionsFrom::Endpoint(url) => (Arc::new(HttpInvoker::new(url)), None),
        };
        let sqs = aws_sdk_sqs::Client::new(&config.sdk);
        for function in &stack.functions {
            for source in function
                .sqs_sources
                .iter()
                .filter(|s| !config.unpolled_queues.contains(&s.queue_logical_id))
            {
                for _ in 0..concurrency(function) {
                    tasks.push(tokio::spawn(crate::event_source::poll(
                        sqs.clone(),
                        Arc::clone(&invoker),
                        function.clone(),
                        source.clone(),
                        stack.settings.region.clone(),
                        stop.subscribe(),
                    )));
                }
            }
        }
        let mut http_address = None;
        if let Some(address) = config.http {
            let function = stack
                .functions
                .iter()
                .find(|f| f.http_api)
                .cloned()
                .ok_or_else(|| {
                    anyhow::anyhow!("no function in the template has an HttpApi event")
                })?;
            let listener = tokio::net::TcpListener::bind(address).await?;
            http_address = Some(listener.local_addr()?);
            let gateway = crate::gateway::Gateway {
                invoker: Arc::clone(&invoker),
                function,
            };
            let stopped = stop.subscribe();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = crate::gateway::serve(gateway, listener, stopped).await {
                    tracing::error!(error = %e, "gateway stopped");
                }
            }));
        }
        if config.schedules {
            tasks.push(tokio::spawn(crate::scheduler::run(
                aws_sdk_scheduler::Client::new(&config.sdk),
                Arc::clone(&invoker),
                Arc::clone(&stack),
                stop.subscribe(),
            )));
        }
        Ok(Self {
            stack,
            invoker,
            http_address,
            host,
            stop,
            tasks,
        })
    }

    /// Stops polling, serving and firing, then the function processes.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(host) = &self.host {
            host.stop().await;
        }
    }
}
