//! Charts pack as `helm package` packs them and read back as Helm reads them; a static
//! repository serves its index and packages over HTTP.

use super::*;

fn chart() -> Chart {
    Chart::new("web", "1.2.3", 7)
        .description("A web server")
        .app_version("2.0")
        .home("https://example.com/web")
        .maintainer("Alice", "alice@example.com")
        .annotation("category", "Web")
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("request")
}

fn index_of(text: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(text).expect("the index is YAML")
}

#[test]
fn a_package_holds_the_chart_files_with_fixed_headers() {
    let chart = chart();
    let package = chart.package();
    // The gzip header: Helm's extra field and comment, mtime 0.
    assert_eq!(&package[..3], &[0x1f, 0x8b, 0x08]);
    assert_eq!(&package[4..8], &[0, 0, 0, 0], "gzip mtime 0");
    let gzip = flate2::read::GzDecoder::new(&package[..]);
    let header = gzip.header().expect("a gzip header");
    assert_eq!(header.extra(), Some(GZIP_EXTRA));
    assert_eq!(header.comment(), Some(&b"Helm"[..]));

    let entries = package_entries(&package).expect("a gzip'd tar");
    let paths: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "web/Chart.yaml",
            "web/values.yaml",
            "web/templates/configmap.yaml"
        ]
    );
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&package[..]));
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("an entry");
        let header = entry.header();
        assert_eq!(header.mode().expect("mode"), 0o644);
        assert_eq!(header.mtime().expect("mtime"), 1_700_000_007);
        assert_eq!(
            (header.uid().expect("uid"), header.gid().expect("gid")),
            (0, 0)
        );
        assert_eq!(header.entry_type(), tar::EntryType::Regular);
    }

    let chart_yaml = chart_yaml_of(&package).expect("a Chart.yaml");
    assert_eq!(chart_yaml, chart.chart_yaml());
    assert_eq!(
        chart_yaml,
        "annotations:\n  category: Web\napiVersion: v2\nappVersion: '2.0'\ndescription: A web server\n\
         home: https://example.com/web\nmaintainers:\n- email: alice@example.com\n  name: Alice\n\
         name: web\ntype: application\nversion: 1.2.3\n"
    );
    let metadata = chart_metadata(&chart_yaml).expect("valid");
    let mut keys: Vec<&str> = metadata.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "annotations",
            "apiVersion",
            "appVersion",
            "description",
            "home",
            "maintainers",
            "name",
            "type",
            "version"
        ]
    );
    assert_eq!(metadata["appVersion"], "2.0");
    assert_eq!(metadata["maintainers"][0]["email"], "alice@example.com");
    let values = &entries[1].1;
    assert!(String::from_utf8_lossy(values).contains("seed: 7"));
}

#[test]
fn the_same_chart_packs_to_the_same_bytes() {
    let first = chart().package();
    assert_eq!(first, chart().package());
    assert_eq!(chart().digest(), sha256_hex(&first));
    let other_seed = Chart { seed: 8, ..chart() };
    assert_ne!(other_seed.package(), first);
    assert_eq!(Chart::new("web", "1.2.3", 7).file_name(), "web-1.2.3.tgz");
}

#[test]
fn chart_yaml_is_read_and_refused_as_helm_does() {
    let minimal =
        chart_metadata("name: x\nversion: 1\nappVersion: 1.10\nunknown: 3\n").expect("valid");
    assert_eq!(minimal["apiVersion"], "v1", "a missing apiVersion is v1");
    assert_eq!(
        minimal["appVersion"], "1.1",
        "a YAML number becomes its text"
    );
    assert!(!minimal.contains_key("unknown"));
    let refused = |yaml: &str| chart_metadata(yaml).expect_err("invalid");
    assert_eq!(
        refused("version: 1.0.0\n"),
        "validation: chart.metadata.name is required"
    );
    assert_eq!(
        refused("name: x\n"),
        "validation: chart.metadata.version is required"
    );
    assert_eq!(
        refused("name: x\nversion: one\n"),
        "validation: chart.metadata.version \"one\" is invalid"
    );
    assert_eq!(
        refused("name: a/b\nversion: 1.0.0\n"),
        "validation: chart.metadata.name \"a/b\" is invalid"
    );
    assert!(refused("name: x\nversion: 1.0.0\ntype: other\n").contains("type must be"));
    assert_eq!(
        chart_yaml_of(b"not gzip").expect_err("no package"),
        "gzip: invalid header"
    );
}

#[test]
fn versions_sort_newest_first_as_helm_sorts_them() {
    let mut versions = vec![
        "1.0.0",
        "1.10.0",
        "v1.2",
        "1.2.0-rc.1",
        "junk",
        "1.2.0-rc.10",
        "1.9.9",
    ];
    versions.sort_by(|a, b| newest_first(a, b));
    assert_eq!(
        versions,
        [
            "1.10.0",
            "1.9.9",
            "v1.2",
            "1.2.0-rc.10",
            "1.2.0-rc.1",
            "1.0.0",
            "junk"
        ]
    );
    assert!(
        parse_version("1.2.3-alpha.01").is_none(),
        "no leading zero in a number"
    );
    assert!(parse_version("1.2.3+build.5").is_some());
    assert!(parse_version("1.2.3.4").is_none());
}

#[tokio::test]
async fn the_static_server_serves_the_index_and_the_packages() {
    let old = Chart::new("web", "1.0.0", 1);
    let new = chart();
    let other = Chart::new("db", "0.1.0", 2);
    let repository = ChartRepository::serve(&[old.clone(), new.clone(), other.clone()]);
    let url = repository.url();

    let answer = get(&format!("{url}/index.yaml")).await;
    assert_eq!(answer.status(), 200);
    let index = index_of(&answer.text().await.expect("text"));
    assert_eq!(index["apiVersion"], "v1");
    assert!(index["generated"].is_string());
    let web = index["entries"]["web"]
        .as_sequence()
        .expect("web's versions");
    let versions: Vec<&str> = web.iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(versions, ["1.2.3", "1.0.0"], "newest first");
    let entry = &web[0];
    assert_eq!(entry["urls"][0], "web-1.2.3.tgz");
    assert_eq!(entry["apiVersion"], "v2");
    assert_eq!(entry["appVersion"], "2.0");
    assert_eq!(entry["home"], "https://example.com/web");
    assert_eq!(entry["annotations"]["category"], "Web");
    assert_eq!(entry["maintainers"][0]["name"], "Alice");
    let created = entry["created"].as_str().expect("created");
    time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
        .expect("created is RFC 3339");
    assert!(
        index["entries"]["db"][0]["home"].is_null(),
        "unset fields are left out"
    );

    let package = get(&format!("{url}/web-1.2.3.tgz")).await;
    assert_eq!(package.status(), 200);
    let bytes = package.bytes().await.expect("bytes");
    assert_eq!(entry["digest"].as_str(), Some(sha256_hex(&bytes).as_str()));
    assert_eq!(bytes.to_vec(), new.package());
    assert_eq!(get(&format!("{url}/nope-1.0.0.tgz")).await.status(), 404);

    repository.add(&Chart::new("db", "0.2.0", 3));
    repository.remove("web", "1.0.0");
    assert_eq!(get(&format!("{url}/web-1.0.0.tgz")).await.status(), 404);
    let index = index_of(
        &get(&format!("{url}/index.yaml"))
            .await
            .text()
            .await
            .expect("text"),
    );
    assert_eq!(index["entries"]["web"].as_sequence().map(Vec::len), Some(1));
    assert_eq!(index["entries"]["db"][0]["version"], "0.2.0");

    repository.set_absolute_urls("http://cdn.example.com/charts/");
    repository.write_index_without_digests();
    let index = index_of(&repository.index());
    assert_eq!(
        index["entries"]["db"][1]["urls"][0],
        "http://cdn.example.com/charts/db-0.1.0.tgz"
    );
    assert!(index["entries"]["db"][1]["digest"].is_null());
    assert!(repository.path("db-0.2.0.tgz").exists());
    assert!(repository.dir().join("index.yaml").exists());
}
