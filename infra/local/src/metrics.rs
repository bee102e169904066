//! The metrics the functions wrote, read back: CloudWatch embedded metric format documents,
//! one per line, in the file `FERRY_METRICS_FILE` names (the local stack sets it). Each is
//! checked as CloudWatch checks it and its figures summed per metric and dimension set, as
//! CloudWatch's graphs would show them: `ferry-local metrics` prints them in `make up`, and the
//! tests read them to check names, units and dimensions.

use std::collections::BTreeMap;

use serde_json::Value;

/// One metric by one dimension set, as CloudWatch files it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    /// Dimension name → value, as the set declares them.
    pub dimensions: BTreeMap<String, String>,
}

/// A metric's figures summed over the documents read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub unit: String,
    pub sum: f64,
    /// Values recorded (a count's line is one value).
    pub samples: usize,
    pub max: f64,
}

#[derive(Debug, thiserror::Error)]
#[error("metrics line {line}: {reason}")]
pub struct MetricsError {
    pub line: usize,
    pub reason: String,
}

fn field<'a>(doc: &'a Value, name: &str, line: usize) -> Result<&'a Value, MetricsError> {
    doc.get(name).ok_or_else(|| MetricsError {
        line,
        reason: format!("no {name}"),
    })
}

fn values(value: &Value) -> Option<Vec<f64>> {
    match value {
        Value::Number(n) => n.as_f64().map(|v| vec![v]),
        Value::Array(items) => items.iter().map(Value::as_f64).collect(),
        _ => None,
    }
}

/// Every figure of `text` (one document per line; empty lines skipped), summed per metric and
/// dimension set. A document CloudWatch would refuse is an error naming its line and why.
pub fn read(text: &str) -> Result<BTreeMap<MetricKey, Totals>, MetricsError> {
    let mut totals: BTreeMap<MetricKey, Totals> = BTreeMap::new();
    for (index, raw) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line = index + 1;
        let bad = |reason: String| MetricsError { line, reason };
        let doc: Value = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        let aws = field(&doc, "_aws", line)?;
        if !field(aws, "Timestamp", line)?.is_i64() {
            return Err(bad("_aws.Timestamp is not epoch milliseconds".into()));
        }
        let directives = field(aws, "CloudWatchMetrics", line)?
            .as_array()
            .ok_or_else(|| bad("_aws.CloudWatchMetrics is not a list".into()))?;
        for directive in directives {
            let namespace = field(directive, "Namespace", line)?
                .as_str()
                .ok_or_else(|| bad("Namespace is not text".into()))?;
            let sets = field(directive, "Dimensions", line)?
                .as_array()
                .ok_or_else(|| bad("Dimensions is not a list of sets".into()))?;
            let metrics = field(directive, "Metrics", line)?
                .as_array()
                .ok_or_else(|| bad("Metrics is not a list".into()))?;
            for metric in metrics {
                let name = field(metric, "Name", line)?
                    .as_str()
                    .ok_or_else(|| bad("a metric's Name is not text".into()))?;
                let unit = metric.get("Unit").and_then(Value::as_str).unwrap_or("None");
                let recorded = doc
                    .get(name)
                    .and_then(values)
                    .ok_or_else(|| bad(format!("{name} has no number or list of numbers")))?;
                for set in sets {
                    let keys = set
                        .as_array()
                        .ok_or_else(|| bad("a dimension set is not a list".into()))?;
                    let mut dimensions = BTreeMap::new();
                    for key in keys {
                        let key = key
                            .as_str()
                            .ok_or_else(|| bad("a dimension is not text".into()))?;
                        let value = doc
                            .get(key)
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad(format!("dimension {key} has no text value")))?;
                        dimensions.insert(key.to_string(), value.to_string());
                    }
                    let total = totals
                        .entry(MetricKey {
                            namespace: namespace.to_string(),
                            name: name.to_string(),
                            dimensions,
                        })
                        .or_default();
                    total.unit = unit.to_string();
                    total.sum += recorded.iter().sum::<f64>();
                    total.samples += recorded.len();
                    total.max = recorded.iter().copied().fold(total.max, f64::max);
                }
            }
        }
    }
    Ok(totals)
}

/// The totals as a table, one metric and dimension set a line.
pub fn render(totals: &BTreeMap<MetricKey, Totals>) -> String {
    let mut out = String::new();
    for (key, total) in totals {
        let dimensions: Vec<String> = key
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!(
            "{}/{} {{{}}} sum={} samples={} max={} {}\n",
            key.namespace,
            key.name,
            dimensions.join(","),
            total.sum,
            total.samples,
            total.max,
            total.unit
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_summed_per_dimension_set_and_bad_ones_named() {
        let text = r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"Ferry","Dimensions":[["Policy"],[]],"Metrics":[{"Name":"ArtifactsCopied","Unit":"Count"}]}]},"Policy":"3","ArtifactsCopied":2}

{"_aws":{"Timestamp":1700000000001,"CloudWatchMetrics":[{"Namespace":"Ferry","Dimensions":[["Policy"],[]],"Metrics":[{"Name":"ArtifactsCopied","Unit":"Count"}]}]},"Policy":"4","ArtifactsCopied":[1,2]}"#;
        let totals = read(text).expect("valid");
        let total = |dims: &[(&str, &str)]| {
            totals[&MetricKey {
                namespace: "Ferry".into(),
                name: "ArtifactsCopied".into(),
                dimensions: dims
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }]
                .sum
        };
        assert_eq!(total(&[]), 5.0);
        assert_eq!(total(&[("Policy", "3")]), 2.0);
        assert_eq!(total(&[("Policy", "4")]), 3.0);
        assert!(render(&totals).contains("Ferry/ArtifactsCopied {Policy=4} sum=3"));
        let missing = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"Ferry","Dimensions":[["Policy"]],"Metrics":[{"Name":"X"}]}]},"X":1}"#;
        let error = read(missing).expect_err("no Policy value");
        assert_eq!(error.line, 1);
        assert!(error.reason.contains("Policy"), "{error}");
    }
}
