use super::*;

const PACKAGE: &[u8] = include_bytes!("testdata/signtest-0.1.0.tgz");
const PROVENANCE: &[u8] = include_bytes!("testdata/signtest-0.1.0.tgz.prov");

/// Helm's own test (helm/helm `pkg/registry/utils_test.go`): the fixture pushed with this
/// creation time has this config and this manifest, byte for byte.
#[test]
fn the_artifact_is_the_one_helm_push_makes() {
    let package = open(PACKAGE).expect("package");
    let artifact = artifact(
        &package.metadata,
        Blob::of(CHART_LAYER, PACKAGE),
        Some(Blob::of(PROVENANCE_LAYER, PROVENANCE)),
        "1977-09-02T22:04:05Z",
    );
    assert_eq!(
        String::from_utf8_lossy(&artifact.config),
        r#"{"name":"signtest","version":"0.1.0","description":"A Helm chart for Kubernetes","apiVersion":"v1"}"#
    );
    assert_eq!(
        sha256(&artifact.config),
        "sha256:8d17cb6bf6ccd8c29aace9a658495cbd5e2e87fc267876e86117c7db681c9580"
    );
    let expected = concat!(
        r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","#,
        r#""digest":"sha256:8d17cb6bf6ccd8c29aace9a658495cbd5e2e87fc267876e86117c7db681c9580","size":99},"#,
        r#""layers":[{"mediaType":"application/vnd.cncf.helm.chart.provenance.v1.prov","#,
        r#""digest":"sha256:b0a02b7412f78ae93324d48df8fcc316d8482e5ad7827b5b238657a29a22f256","size":695},"#,
        r#"{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","#,
        r#""digest":"sha256:e5ef611620fb97704d8751c16bab17fedb68883bfb0edc76f78a70e9173f9b55","size":973}],"#,
        r#""annotations":{"org.opencontainers.image.created":"1977-09-02T22:04:05Z","#,
        r#""org.opencontainers.image.description":"A Helm chart for Kubernetes","#,
        r#""org.opencontainers.image.title":"signtest","org.opencontainers.image.version":"0.1.0"}}"#
    );
    assert_eq!(String::from_utf8_lossy(&artifact.manifest), expected);
    assert_eq!(
        sha256(&artifact.manifest),
        "sha256:fbbade96da6050f68f94f122881e3b80051a18f13ab5f4081868dd494538f5c2"
    );
    // The fixture's tar entries carry the epoch as their time.
    assert_eq!(rfc3339(package.chart_time), "1970-01-01T00:00:00Z");
}

#[test]
fn metadata_reads_as_helms_loader_reads_it() {
    let chart = "\u{feff}apiVersion: v2\nName: web\nversion: 1.2.3+build.1\nappVersion: 1.10\n\
        description: \"a <b>chart</b>\\nwith & more\"\ndeprecated: true\ntags: a,b\n\
        maintainers:\n- name: Ann\n  email: ann@example.com\n- email: bob@example.com\n- name: Cy\n\
        sources: [https://src.example/one, https://src.example/two]\nhome: https://web.example\n\
        annotations:\n  org.opencontainers.image.title: not this\n  category: web\n  count: 3\n\
        dependencies:\n- name: db\n  version: ~1.0\n  repository: ''\n  import-values: [data]\n";
    let metadata = parse_metadata(chart.trim_start_matches('\u{feff}')).expect("metadata");
    assert_eq!(metadata.name, "web", "field names match in any case");
    assert_eq!(
        metadata.app_version, "1.1",
        "numbers become text as Helm's YAML reader makes them"
    );
    assert_eq!(
        metadata.description, "a <b>chart</b> with & more",
        "white space is a space"
    );
    assert_eq!(metadata.annotations["count"], "3");
    let config = String::from_utf8(go_json(&metadata)).expect("utf-8");
    assert!(
        config.starts_with(r#"{"name":"web","home":"https://web.example","sources":["#),
        "{config}"
    );
    assert!(
        config.contains(r#""description":"a \u003cb\u003echart\u003c/b\u003e with \u0026 more""#),
        "{config}"
    );
    assert!(config.contains(r#""tags":"a,b""#), "{config}");
    assert!(config.contains(r#""dependencies":[{"name":"db","version":"~1.0","repository":"","import-values":["data"]}]"#), "{config}");
    assert!(config.ends_with(r#""deprecated":true,"annotations":{"category":"web","count":"3","org.opencontainers.image.title":"not this"},"dependencies":[{"name":"db","version":"~1.0","repository":"","import-values":["data"]}]}"#), "{config}");

    let annotations = annotations(&metadata, "2024-01-01T00:00:00Z");
    assert_eq!(
        annotations["org.opencontainers.image.authors"],
        "Ann (ann@example.com),  (bob@example.com), Cy"
    );
    assert_eq!(
        annotations["org.opencontainers.image.title"], "web",
        "the chart cannot set the title"
    );
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://src.example/one"
    );
    assert_eq!(annotations["category"], "web");
}

#[test]
fn what_is_not_a_chart_says_why() {
    assert!(matches!(open(b"not gzip"), Err(PackageError::Archive(_))));
    assert!(matches!(
        parse_metadata("name: x\n").map(|m| m.version),
        Ok(v) if v.is_empty()
    ));
    let metadata = parse_metadata("version: 1.0.0\n").expect("parses");
    assert!(metadata.name.is_empty());
    assert_eq!(metadata.api_version, "v1", "Helm 2 charts had none");
    assert!(matches!(
        parse_metadata("- a list"),
        Err(PackageError::Metadata(_))
    ));
}

#[test]
fn only_the_fields_helm_cleans_are_cleaned() {
    let chart = "apiVersion: v2\nname: web\nversion: 1.0.0\ndescription: |\n  two\n  lines\n\
        annotations:\n  artifacthub.io/changes: |\n    - kind: added\n      description: x\n";
    let metadata = parse_metadata(chart).expect("metadata");
    assert_eq!(metadata.description, "two lines ", "Helm's sanitizeString");
    assert_eq!(
        metadata.annotations["artifacthub.io/changes"], "- kind: added\n  description: x\n",
        "annotations as they are"
    );
}

#[test]
fn floats_read_as_gos_formatter_writes_them() {
    for (value, text) in [
        (1.10, "1.1"),
        (2.0, "2"),
        (1234567.0, "1.234567e+06"),
        (100000.0, "100000"),
        (1000000.0, "1e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
    ] {
        assert_eq!(go_float32(value), text, "{value}");
    }
}
