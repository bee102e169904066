//! Tracing: JSON lines inside Lambda (CloudWatch parses them), readable text elsewhere; and the
//! metrics ([`metrics`]), as CloudWatch embedded metric documents.
//! `RUST_LOG` sets the filter; the default is `info`.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        && std::env::var_os("FERRY_LOG_TEXT").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = if in_lambda {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .without_time()
            .try_init()
    } else {
        builder.try_init()
    };
}

pub mod metrics;

tokio::task_local! {
    static CORRELATION: String;
}

/// Runs `work` with `id` as its correlation id: the API request's (or the invocation's) id,
/// which the messages it sends carry on to the lister and the transfers, and their spans log.
pub async fn correlated<F: std::future::Future>(id: Option<String>, work: F) -> F::Output {
    match id {
        Some(id) => CORRELATION.scope(id, work).await,
        None => work.await,
    }
}

/// The correlation id of the work under way, if it has one.
pub fn correlation_id() -> Option<String> {
    CORRELATION.try_with(Clone::clone).ok()
}
