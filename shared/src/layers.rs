//! The house's one rule, checked: arrows point down. Each layer may use the layers below it
//! and none above; a port or domain module that imported an adapter would fail here, naming
//! the file and the line.

use std::path::Path;

/// From the ground up. A layer may use only the ones before it (and `telemetry`).
const LAYERS: &[&str] = &[
    "oci",
    "model",
    "messages",
    "ports",
    "copy",
    "replication",
    "adapters",
    "api",
    "wiring",
];

/// Layers that stand beside each other rather than above: neither uses the other.
const SIDE_BY_SIDE: &[(&str, &str)] = &[("copy", "adapters"), ("replication", "adapters")];

fn layer_of(relative: &Path) -> Option<&'static str> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    LAYERS.iter().copied().find(|layer| *layer == name)
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn arrows_point_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(
        files.len() > 50,
        "the sources were not found under {}",
        root.display()
    );
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file);
        let Some(layer) = layer_of(relative) else {
            continue;
        };
        let rank = LAYERS.iter().position(|l| *l == layer).unwrap_or_default();
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            for (other_rank, other) in LAYERS.iter().enumerate() {
                let uses = line.contains(&format!("crate::{other}::"))
                    || line.contains(&format!("crate::{other}}}"))
                    || line.contains(&format!("crate::{other};"));
                let above = other_rank > rank;
                let beside = SIDE_BY_SIDE
                    .iter()
                    .any(|(a, b)| (*a == layer && b == other) || (a == other && *b == layer));
                if uses && (above || beside) {
                    wrong.push(format!(
                        "{}:{}: {layer} uses {other}",
                        relative.display(),
                        number + 1
                    ));
                }
            }
            if layer == "api" && (line.contains("aws_sdk_") || line.contains("aws_config")) {
                wrong.push(format!(
                    "{}:{}: the API talks HTTP only",
                    relative.display(),
                    number + 1
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run back up:\n{}",
        wrong.join("\n")
    );
}
