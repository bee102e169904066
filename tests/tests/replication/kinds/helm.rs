use super::*;
use ferry_tests::charts::{Chart, ChartRepository};
use ferry_tests::fakes::chartmuseum::FakeChartMuseum;
use ferry_tests::images::RegistryHttp;

const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// What `helm pull oci://...` takes of a tag (helm/helm `pkg/registry/client.go` `Pull`): an
/// OCI manifest whose config is Helm's, read as the chart's metadata, and whose layer of Helm's
/// chart type is the package. The metadata and the package.
async fn helm_pull(http: &RegistryHttp, repository: &str, tag: &str) -> (Value, Vec<u8>) {
    let bytes = http
        .manifest(repository, tag)
        .await
        .unwrap_or_else(|| panic!("{repository}:{tag} is missing"));
    let manifest: Value = serde_json::from_slice(&bytes).expect("a JSON manifest");
    assert_eq!(manifest["schemaVersion"], 2, "{manifest}");
    assert_eq!(manifest["config"]["mediaType"], HELM_CONFIG, "{manifest}");
    let config_digest = manifest["config"]["digest"].as_str().expect("config");
    let config = http
        .blob(repository, config_digest)
        .await
        .expect("config blob");
    let metadata: Value = serde_json::from_slice(&config).expect("the chart's metadata");
    let layers = manifest["layers"].as_array().expect("layers");
    let chart = (layers.iter())
        .find(|l| l["mediaType"] == HELM_CHART)
        .expect("a chart layer");
    let package = http
        .blob(repository, chart["digest"].as_str().expect("digest"))
        .await
        .expect("the package");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        metadata["version"]
    );
    (metadata, package)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_chart_repository_arrives_as_oci_helm_charts_and_again_is_a_no_op() {
    let charts = [
        Chart::new("web", "1.0.0", 1)
            .maintainer("Ann", "ann@example.com")
            .home("https://web.example"),
        Chart::new("web", "1.1.0+build.7", 2).app_version("2.1"),
        Chart::new("web", "2.0.0-rc.1", 3),
        Chart::new("db", "0.3.0", 4).annotation("category", "database"),
    ];
    let repository = ChartRepository::serve(&charts);
    let copy = TestRegistry::start();
    let (stack, api) = start("kind-helm").await;
    let src = add(
        &api,
        json!({"name": "charts", "type": "helm-repository", "url": repository.url()}),
    )
    .await;
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let filters = json!({"dest_namespace": "charts", "filters": [
        {"type": "name", "value": "web"},
        {"type": "tag", "value": "1.*"},
        {"type": "resource", "value": "chart"}]});
    let policy = create_policy(&api, "charts", src, dst, filters).await;
    let first = succeeded(&api, policy).await;
    assert_eq!(first["total"], 2, "web 1.0.0 and 1.1.0+build.7: {first}");
    for chart in &charts[..2] {
        let tag = chart.version.replace('+', "_");
        let (metadata, package) = helm_pull(&plain(&copy), "charts/web", &tag).await;
        assert_eq!(metadata["name"], "web");
        assert_eq!(metadata["version"], chart.version);
        assert!(
            package == chart.package(),
            "{tag}: the package, byte for byte"
        );
    }
    let (metadata, _) = helm_pull(&plain(&copy), "charts/web", "1.1.0_build.7").await;
    assert_eq!(metadata["appVersion"], "2.1");
    assert!(plain(&copy)
        .manifest("charts/web", "2.0.0-rc.1")
        .await
        .is_none());
    assert!(plain(&copy).manifest("charts/db", "0.3.0").await.is_none());

    // The artifact is a function of the package: a re-sync finds the same digests, no task runs.
    let before = plain(&copy).manifest_digest("charts/web", "1.0.0").await;
    let again = succeeded(&api, policy).await;
    assert_eq!(again["total"], 2, "{again}");
    let id = again["id"].as_i64().expect("id");
    for task in tasks(&api, id).await {
        let text = task["status_text"].as_str().unwrap_or_default();
        assert!(text.contains("unchanged"), "{task}");
    }
    assert_eq!(
        plain(&copy).manifest_digest("charts/web", "1.0.0").await,
        before
    );

    // A new version is the only one copied next time.
    repository.add(&Chart::new("web", "1.2.0", 5));
    let third = succeeded(&api, policy).await;
    assert_eq!(third["total"], 3, "{third}");
    let (_, package) = helm_pull(&plain(&copy), "charts/web", "1.2.0").await;
    assert!(package == Chart::new("web", "1.2.0", 5).package());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn off_chartmuseum_into_oci_and_back_into_chartmuseum() {
    let charts = [
        Chart::new("web", "1.0.0", 11),
        Chart::new("web", "1.2.0", 12),
        Chart::new("api", "0.1.0", 13),
        // Helm's loose versions: ChartMuseum reads "1.0" as a range too.
        Chart::new("web", "1.0", 16),
    ];
    let museum = FakeChartMuseum::start(Some(("cm", "cm-pw"))).await;
    for chart in &charts {
        museum.add(chart);
    }
    let provenance = provenance_of(&charts[0]);
    museum.add_provenance("web", "1.0.0", &provenance);
    let oci = TestRegistry::start();
    plain(&oci)
        .push_image("charts/app", "v1", &[layer(2600, 1_000)])
        .await;
    let (stack, api) = start("kind-chartmuseum").await;
    let museum_record = |password: &str| {
        json!({"name": format!("museum-{password}"), "type": "helm-repository", "url": museum.url(),
               "credential": {"type": "basic", "access_key": "cm", "access_secret": password}})
    };
    let wrong = api.post("/registries", &museum_record("wrong")).await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(wrong.text.contains("401"), "{}", wrong.text);
    let from = add(&api, museum_record("cm-pw")).await;
    let oci_id = add_registry(&api, "oci", &oci.url()).await;

    // ChartMuseum's charts, as OCI charts: the migration off ChartMuseum.
    let off = create_policy(
        &api,
        "off",
        from,
        oci_id,
        json!({"dest_namespace": "charts"}),
    )
    .await;
    succeeded(&api, off).await;
    for chart in &charts {
        let at = format!("charts/{}", chart.name);
        let (_, package) = helm_pull(&plain(&oci), &at, &chart.version).await;
        assert!(package == chart.package(), "{at}:{}", chart.version);
    }
    let signed = plain(&oci)
        .manifest("charts/web", "1.0.0")
        .await
        .expect("1.0.0");
    let signed: Value = serde_json::from_slice(&signed).expect("json");
    assert!(
        signed["layers"].as_array().is_some_and(|layers| layers
            .iter()
            .any(|l| l["mediaType"] == "application/vnd.cncf.helm.chart.provenance.v1.prov")),
        "the provenance is a layer: {signed}"
    );

    // And back into another ChartMuseum, through its upload API. It holds web 1.0.5, which it
    // answers when asked for web 1.0: not the version asked, so 1.0 is uploaded all the same.
    let target = FakeChartMuseum::start(None).await;
    target.add(&Chart::new("web", "1.0.5", 17));
    let to = add(
        &api,
        json!({"name": "target", "type": "helm-repository", "url": target.url()}),
    )
    .await;
    let charts_only = json!({"filters": [{"type": "name", "value": "charts/**"},
                                         {"type": "resource", "value": "chart"}]});
    let back = create_policy(&api, "back", oci_id, to, charts_only).await;
    succeeded(&api, back).await;
    for chart in &charts {
        let held = target.package(&chart.name, &chart.version);
        assert!(
            held == Some(chart.package()),
            "{} {}",
            chart.name,
            chart.version
        );
    }
    assert_eq!(
        target.provenance("web", "1.0.0"),
        Some(provenance),
        "with its provenance"
    );
    assert_eq!(target.uploads(), 4);
    succeeded(&api, back).await;
    assert_eq!(target.uploads(), 4, "a re-sync uploads nothing");

    // An image is no chart: its task says so.
    let everything = json!({"filters": [{"type": "name", "value": "charts/app"}]});
    let images = create_policy(&api, "images", oci_id, to, everything).await;
    let text = failure(&api, images).await;
    assert!(text.contains("is not a Helm chart"), "{text}");

    // A static repository takes no uploads: refused before any task.
    let static_repository = ChartRepository::serve(&[Chart::new("x", "0.0.1", 14)]);
    let read_only = add(
        &api,
        json!({"name": "static", "type": "helm-repository", "url": static_repository.url()}),
    )
    .await;
    let policy = create_policy(&api, "to-static", oci_id, read_only, charts_only_of("web")).await;
    let execution = run(&api, policy).await;
    assert_eq!(execution["status"], "Failed", "{execution}");
    let text = execution["status_text"].as_str().unwrap_or_default();
    assert!(text.contains("no ChartMuseum API"), "{text}");
    stack.stop().await;
}

/// A provenance file of `chart`, as `helm package --sign` writes one (the signature a stand-in).
fn provenance_of(chart: &Chart) -> Vec<u8> {
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: {}\n\
         version: {}\n\n...\nfiles:\n  {}: sha256:{}\n-----BEGIN PGP SIGNATURE-----\n\n\
         wsBcBAEBCgAQBQJferry\n-----END PGP SIGNATURE-----\n",
        chart.name,
        chart.version,
        chart.file_name(),
        chart.digest()
    )
    .into_bytes()
}

fn charts_only_of(chart: &str) -> Value {
    json!({"filters": [{"type": "name", "value": format!("charts/{chart}")},
                       {"type": "resource", "value": "chart"}]})
}
