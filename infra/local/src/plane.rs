//! The event plane put together: stack, functions, event source mappings, gateway, schedules,
//! and the IAM guard between the functions and the emulators.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::SdkConfig;

use crate::iam::FunctionPolicies;
use crate::iam_guard::{GuardSettings, IamGuard, Upstreams};
use crate::iam_request::ArnScope;
use crate::invoke::{HttpInvoker, Invoker, RuntimeHost};
use crate::stack::{bootstrap, BootstrapOptions, FunctionSpec, Stack};
use crate::template::{StackSettings, Template};

pub enum FunctionsFrom {
    /// Run the built binaries in this directory (target/debug, say).
    Binaries(PathBuf),
    /// Invoke through an endpoint that runs them, such as `cargo lambda watch`.
    Endpoint(String),
}

/// Whether the functions' AWS calls go through the IAM guard, which refuses what their
/// policies in the template do not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamGuardSetting {
    /// Through the guard listening here (port 0: any free port). The function processes the
    /// plane runs are pointed at it; functions run elsewhere (`cargo lambda watch`) must be
    /// given its address as their AWS endpoint.
    On(SocketAddr),
    /// Straight to the emulators: no call is checked.
    Off,
}

impl Default for IamGuardSetting {
    fn default() -> Self {
        Self::On(SocketAddr::from(([127, 0, 0, 1], 0)))
    }
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
    /// On by default; its upstreams are the AWS endpoints in `child_env`.
    pub iam_guard: IamGuardSetting,
}

pub struct Plane {
    pub stack: Arc<Stack>,
    pub invoker: Arc<dyn Invoker>,
    pub http_address: Option<SocketAddr>,
    host: Option<Arc<RuntimeHost>>,
    iam_guard: Option<IamGuard>,
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
        let iam_guard = match config.iam_guard {
            IamGuardSetting::On(listen) => {
                start_iam_guard(listen, &template, &stack, &config.child_env).await?
            }
            IamGuardSetting::Off => None,
        };
        let child_env = match &iam_guard {
            Some(guard) => crate::iam_guard::guarded_env(&config.child_env, guard.address),
            None => config.child_env.clone(),
        };
        let (invoker, host): (Arc<dyn Invoker>, Option<Arc<RuntimeHost>>) = match config.functions {
            FunctionsFrom::Binaries(dir) => {
                let host = Arc::new(
                    RuntimeHost::start(&stack.functions, dir, &concurrency, &child_env).await?,
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
            iam_guard,
            stop,
            tasks,
        })
    }

    /// Where the IAM guard listens, when it is on.
    pub fn iam_guard_address(&self) -> Option<SocketAddr> {
        self.iam_guard.as_ref().map(|g| g.address)
    }

    /// Function calls the IAM guard refused so far.
    pub fn iam_denials(&self) -> u64 {
        self.iam_guard.as_ref().map_or(0, IamGuard::denials)
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
        // Last: the functions may call AWS until they stop.
        if let Some(guard) = self.iam_guard.take() {
            guard.stop().await;
        }
    }
}

/// Starts the IAM guard in front of the endpoints in `child_env`; None (with a warning) when
/// there are none, since then the functions reach AWS itself.
async fn start_iam_guard(
    listen: SocketAddr,
    template: &Template,
    stack: &Stack,
    child_env: &[(String, String)],
) -> anyhow::Result<Option<IamGuard>> {
    let Some(upstreams) = Upstreams::from_env(child_env) else {
        tracing::warn!("no AWS_ENDPOINT_URL for the functions: the IAM guard is off");
        return Ok(None);
    };
    let settings = GuardSettings {
        listen,
        policies: FunctionPolicies::from_template(template, &stack.settings, &stack.resolved)?,
        upstreams,
        scope: ArnScope {
            region: stack.settings.region.clone(),
            account: stack.settings.account.clone(),
        },
        stack_name: stack.settings.stack_name.clone(),
    };
    Ok(Some(crate::iam_guard::start(settings).await?))
}
