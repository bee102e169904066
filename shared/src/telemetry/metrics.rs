//! Ferry's metrics as CloudWatch embedded metric format (EMF) documents: JSON lines in the
//! function's log that CloudWatch turns into metrics, with no API call. A process keeps what it
//! measured during an invocation and writes it when the invocation ends ([`flush`]): one
//! document per set of dimension values, counts summed, durations as up to 100 values.
//!
//! Dimensions are few on purpose (CloudWatch bills each combination as a metric): a policy, a
//! registry (its host) with the class of the answers' status, or the function. Every per-policy
//! figure is also written without dimensions, which the template's alarms read. (Why not
//! metrics_cloudwatch_embedded: it writes each label set as one dimension set, without the
//! rollup `[["Policy"], []]` that gives the totals from the same line.)

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

pub const NAMESPACE: &str = "Ferry";
/// A file documents are appended to instead of stdout (the local stack collects them there).
pub const METRICS_FILE: &str = "FERRY_METRICS_FILE";
/// EMF's limit on the values of one metric in one document.
const MAX_VALUES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
    /// A gauge: 1 or 0, a level.
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Bytes => "Bytes",
            Self::Milliseconds => "Milliseconds",
            Self::None => "None",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
}

const fn metric(name: &'static str, unit: Unit) -> Metric {
    Metric { name, unit }
}

// Per policy (and in total).
pub const ARTIFACTS_COPIED: Metric = metric("ArtifactsCopied", Unit::Count);
pub const ARTIFACTS_SKIPPED: Metric = metric("ArtifactsSkipped", Unit::Count);
pub const ARTIFACTS_FAILED: Metric = metric("ArtifactsFailed", Unit::Count);
pub const ARTIFACTS_DELETED: Metric = metric("ArtifactsDeleted", Unit::Count);
pub const BYTES_COPIED: Metric = metric("BytesCopied", Unit::Bytes);
pub const BLOBS_COPIED: Metric = metric("BlobsCopied", Unit::Count);
pub const BLOBS_MOUNTED: Metric = metric("BlobsMounted", Unit::Count);
pub const BLOBS_SKIPPED: Metric = metric("BlobsSkipped", Unit::Count);
/// The time of the delivery that ended a task (a task continued over invocations: its last).
pub const TASK_DURATION: Metric = metric("TaskDuration", Unit::Milliseconds);
pub const LISTING_DURATION: Metric = metric("ListingDuration", Unit::Milliseconds);
/// Artifacts a listing piece found at the source, before the filters.
pub const LISTING_SIZE: Metric = metric("ListingSize", Unit::Count);
pub const EXECUTIONS_FAILED: Metric = metric("ExecutionsFailed", Unit::Count);
pub const EXECUTIONS_SUCCEEDED: Metric = metric("ExecutionsSucceeded", Unit::Count);
// Per registry.
pub const REGISTRY_REQUESTS: Metric = metric("RegistryRequests", Unit::Count);
/// Answers 429 (Too Many Requests).
pub const REGISTRY_THROTTLED: Metric = metric("RegistryThrottled", Unit::Count);
pub const REGISTRY_RETRIES: Metric = metric("RegistryRetries", Unit::Count);
/// 1 when the health monitor found the registry answering, 0 when not.
pub const REGISTRY_HEALTHY: Metric = metric("RegistryHealthy", Unit::None);
/// Times a transfer waited for the registry's budget of concurrent blobs.
pub const BUDGET_WAITS: Metric = metric("BudgetWaits", Unit::Count);
// Per function.
/// How long a message waited in its queue before this delivery.
pub const QUEUE_AGE: Metric = metric("QueueAge", Unit::Milliseconds);
// In total.
/// Executions the reaper found stuck and ended or moved on.
pub const STUCK_EXECUTIONS: Metric = metric("StuckExecutions", Unit::Count);

/// What a figure is about: its dimensions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum On {
    /// Totals only.
    All,
    Policy(i64),
    Registry(String),
    /// A registry and the class of its answer (`2xx` … `5xx`, `error` when none came).
    RegistryAnswer(String, &'static str),
    Function(String),
}

impl On {
    fn values(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::All => vec![],
            Self::Policy(id) => vec![("Policy", id.to_string())],
            Self::Registry(name) => vec![("Registry", name.clone())],
            Self::RegistryAnswer(name, class) => vec![
                ("Registry", name.clone()),
                ("StatusClass", (*class).to_string()),
            ],
            Self::Function(name) => vec![("Function", name.clone())],
        }
    }

    /// The dimension sets a document declares: the figure by these dimensions, and the rollup
    /// an alarm or a dashboard reads.
    fn sets(&self) -> Vec<Vec<&'static str>> {
        match self {
            Self::All => vec![vec![]],
            Self::Policy(_) => vec![vec!["Policy"], vec![]],
            Self::Registry(_) => vec![vec!["Registry"]],
            Self::RegistryAnswer(..) => vec![vec!["Registry", "StatusClass"], vec!["Registry"]],
            Self::Function(_) => vec![vec!["Function"]],
        }
    }
}

/// The class of an HTTP status, as the `StatusClass` dimension has it.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// What a process measured and has not written yet.
#[derive(Default)]
pub struct Book {
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    figures: BTreeMap<On, BTreeMap<Metric, Vec<f64>>>,
    /// Documents already full (a metric reached [`MAX_VALUES`]).
    full: Vec<String>,
}

impl Book {
    /// Adds `n` to a count (or bytes).
    pub fn count(&self, metric: Metric, on: On, n: u64) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let values = open
            .figures
            .entry(on)
            .or_default()
            .entry(metric)
            .or_default();
        match values.first_mut() {
            Some(sum) => *sum += n as f64,
            None => values.push(n as f64),
        }
    }

    /// Records one value of a distribution (a duration) or a gauge.
    pub fn observe(&self, metric: Metric, on: On, value: f64) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let values = open
            .figures
            .entry(on.clone())
            .or_default()
            .entry(metric)
            .or_default();
        values.push(value);
        if values.len() >= MAX_VALUES {
            let values = std::mem::take(values);
            let one = BTreeMap::from([(metric, values)]);
            let document = document(&on, &one, now_millis());
            open.full.push(document);
        }
    }

    pub fn duration(&self, metric: Metric, on: On, took: Duration) {
        self.observe(metric, on, took.as_secs_f64() * 1000.0);
    }

    /// The documents of everything measured since the last drain, and a fresh start.
    pub fn drain(&self) -> Vec<String> {
        let Open { figures, mut full } =
            std::mem::take(&mut *self.open.lock().unwrap_or_else(PoisonError::into_inner));
        let at = now_millis();
        for (on, metrics) in &figures {
            let metrics: BTreeMap<Metric, Vec<f64>> = metrics
                .iter()
                .filter(|(_, values)| !values.is_empty())
                .map(|(m, v)| (*m, v.clone()))
                .collect();
            if !metrics.is_empty() {
                full.push(document(on, &metrics, at));
            }
        }
        full
    }
}

fn now_millis() -> i64 {
    crate::model::time_format::now_millis()
}

/// A number as EMF wants it: integers without a fraction.
fn number(value: f64) -> serde_json::Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        serde_json::Value::from(value as i64)
    } else {
        serde_json::Value::from(value)
    }
}

fn document(on: &On, metrics: &BTreeMap<Metric, Vec<f64>>, timestamp_ms: i64) -> String {
    let declared: Vec<serde_json::Value> = metrics
        .keys()
        .map(|m| serde_json::json!({"Name": m.name, "Unit": m.unit.as_str()}))
        .collect();
    let mut doc = serde_json::Map::new();
    doc.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": on.sets(),
                "Metrics": declared,
            }],
        }),
    );
    for (key, value) in on.values() {
        doc.insert(key.into(), value.into());
    }
    for (metric, values) in metrics {
        let value = match values.as_slice() {
            [one] => number(*one),
            many => many.iter().copied().map(number).collect(),
        };
        doc.insert(metric.name.into(), value);
    }
    serde_json::Value::Object(doc).to_string()
}

/// The process's book: what the library's code records to.
static BOOK: std::sync::LazyLock<Book> = std::sync::LazyLock::new(Book::default);

pub fn count(metric: Metric, on: On, n: u64) {
    BOOK.count(metric, on, n);
}

pub fn observe(metric: Metric, on: On, value: f64) {
    BOOK.observe(metric, on, value);
}

pub fn duration(metric: Metric, on: On, took: Duration) {
    BOOK.duration(metric, on, took);
}

/// Writes what was measured since the last flush: to `FERRY_METRICS_FILE` when set, to stdout
/// in Lambda (where CloudWatch reads it), nowhere otherwise (a test's in-process run). Called
/// when an invocation ends; a write that fails is logged, never the invocation's failure.
pub fn flush() {
    let documents = BOOK.drain();
    if documents.is_empty() {
        return;
    }
    let mut text = documents.join("\n");
    text.push('\n');
    let written = match std::env::var_os(METRICS_FILE).filter(|f| !f.is_empty()) {
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(text.as_bytes())),
        None if in_lambda() => std::io::stdout().lock().write_all(text.as_bytes()),
        None => Ok(()),
    };
    if let Err(e) = written {
        tracing::warn!(error = %e, "metrics not written");
    }
}

fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        && std::env::var_os("FERRY_LOG_TEXT").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(book: &Book) -> Vec<serde_json::Value> {
        book.drain()
            .iter()
            .map(|line| serde_json::from_str(line).expect("a JSON document"))
            .collect()
    }

    #[test]
    fn counts_sum_per_dimension_values_and_roll_up_to_totals() {
        let book = Book::default();
        book.count(ARTIFACTS_COPIED, On::Policy(7), 2);
        book.count(ARTIFACTS_COPIED, On::Policy(7), 3);
        book.count(BYTES_COPIED, On::Policy(7), 1024);
        book.count(ARTIFACTS_COPIED, On::Policy(8), 1);
        let docs = parsed(&book);
        assert_eq!(docs.len(), 2, "one document per policy");
        let seven = &docs[0];
        assert_eq!(seven["Policy"], "7");
        assert_eq!(seven["ArtifactsCopied"], 5);
        assert_eq!(seven["BytesCopied"], 1024);
        let directive = &seven["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Ferry");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Policy"], []]));
        let units: Vec<(String, String)> = directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| (m["Name"].to_string(), m["Unit"].to_string()))
            .collect();
        assert!(units.contains(&("\"BytesCopied\"".into(), "\"Bytes\"".into())));
        assert!(units.contains(&("\"ArtifactsCopied\"".into(), "\"Count\"".into())));
        assert!(seven["_aws"]["Timestamp"].as_i64().expect("a timestamp") > 1_600_000_000_000);
        assert!(book.drain().is_empty(), "a drain starts afresh");
    }

    #[test]
    fn durations_keep_their_values_and_a_full_document_is_written_early() {
        let book = Book::default();
        let on = On::Function("transfer".into());
        book.duration(QUEUE_AGE, on.clone(), Duration::from_millis(12));
        book.duration(QUEUE_AGE, on.clone(), Duration::from_millis(30));
        let docs = parsed(&book);
        assert_eq!(docs[0]["QueueAge"], serde_json::json!([12, 30]));
        assert_eq!(docs[0]["Function"], "transfer");
        for i in 0..(MAX_VALUES + 5) {
            book.observe(TASK_DURATION, On::Policy(1), i as f64);
        }
        let docs = parsed(&book);
        let lengths: Vec<usize> = docs
            .iter()
            .map(|d| d["TaskDuration"].as_array().map_or(1, Vec::len))
            .collect();
        assert_eq!(
            lengths,
            vec![MAX_VALUES, 5],
            "EMF takes 100 values a metric"
        );
    }

    #[test]
    fn registry_answers_roll_up_to_the_registry() {
        let book = Book::default();
        book.count(
            REGISTRY_REQUESTS,
            On::RegistryAnswer("ghcr.io".into(), status_class(429)),
            1,
        );
        let doc = &parsed(&book)[0];
        assert_eq!(doc["StatusClass"], "4xx");
        assert_eq!(doc["Registry"], "ghcr.io");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Registry", "StatusClass"], ["Registry"]])
        );
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(307), "3xx");
        assert_eq!(status_class(503), "5xx");
    }
}
