//! SDK-HMAC-SHA256 against the worked example of Huawei Cloud's API Request Signing Guide (GET
//! `/v1/{project}/vpcs?marker=…&limit=2`, X-Sdk-Date 20191115T033655Z), which Huawei's own SDKs
//! test against too.

use time::macros::datetime;
use time::OffsetDateTime;

use super::{request, EMPTY_SHA256};
use crate::adapters::registry::signing::huawei::sign;
use crate::adapters::registry::signing::{Credentials, Request, SigningError};

const EXAMPLE: Credentials<'static> = Credentials {
    id: "QTWAOYTTINDUT2QVKYUC",
    secret: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
};
const HOST: &str = "service.region.example.com";
const PATH: &str = "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs";
/// In the order of the example's URL: the canonical query reorders them.
const QUERY: [(&str, &str); 2] = [
    ("marker", "13551d6b-755d-4757-b956-536f674975c0"),
    ("limit", "2"),
];
const JSON: [(&str, &str); 1] = [("Content-Type", "application/json")];
const TIME: OffsetDateTime = datetime!(2019-11-15 03:36:55 UTC);

fn example() -> Request<'static> {
    request("GET", HOST, PATH, &QUERY, &JSON, b"")
}

#[test]
fn the_published_example_is_reproduced() {
    let signed = sign(&example(), &EXAMPLE, TIME).unwrap();
    assert_eq!(
        signed.canonical,
        format!(
            "GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n\
             limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n\
             content-type:application/json\nhost:service.region.example.com\n\
             x-sdk-date:20191115T033655Z\n\ncontent-type;host;x-sdk-date\n{EMPTY_SHA256}"
        )
    );
    assert_eq!(
        signed.string_to_sign,
        "SDK-HMAC-SHA256\n20191115T033655Z\n\
         b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
    );
    assert_eq!(
        signed.signature,
        "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    );
    assert_eq!(
        signed.addition("Authorization"),
        Some(
            "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;\
             x-sdk-date, Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        )
    );
    assert_eq!(signed.addition("X-Sdk-Date"), Some("20191115T033655Z"));
}

#[test]
fn the_uri_ends_in_a_slash_and_its_segments_are_encoded() {
    let spaced = request("GET", HOST, "/v2/my ns/repos/", &[], &[], b"");
    let signed = sign(&spaced, &EXAMPLE, TIME).unwrap();
    assert_eq!(signed.canonical.lines().nth(1), Some("/v2/my%20ns/repos/"));
    let root = request("GET", HOST, "/", &[], &[], b"");
    let signed = sign(&root, &EXAMPLE, TIME).unwrap();
    assert_eq!(signed.canonical.lines().nth(1), Some("/"));
}

#[test]
fn a_names_values_are_ordered_too_and_special_characters_encoded() {
    let query = [("tag", "v2"), ("filter", "name::a b&c=d"), ("tag", "v1~")];
    let signed = sign(
        &request("GET", HOST, PATH, &query, &[], b""),
        &EXAMPLE,
        TIME,
    )
    .unwrap();
    assert_eq!(
        signed.canonical.lines().nth(2),
        Some("filter=name%3A%3Aa%20b%26c%3Dd&tag=v1~&tag=v2")
    );
}

#[test]
fn only_host_and_date_are_signed_when_the_caller_adds_no_header() {
    let post = request("POST", HOST, PATH, &[], &[], br#"{"namespace":"ferry"}"#);
    let signed = sign(&post, &EXAMPLE, TIME).unwrap();
    let lines: Vec<&str> = signed.canonical.lines().collect();
    assert_eq!(
        lines[3..7],
        [
            "host:service.region.example.com",
            "x-sdk-date:20191115T033655Z",
            "",
            "host;x-sdk-date"
        ]
    );
    assert_ne!(lines[7], EMPTY_SHA256);
}

#[test]
fn changing_any_signed_part_changes_the_signature() {
    let base = sign(&example(), &EXAMPLE, TIME).unwrap().signature;
    let project = [JSON[0], ("X-Project-Id", "p1")];
    let query = [QUERY[0], ("limit", "3")];
    let variants = [
        request("HEAD", HOST, PATH, &QUERY, &JSON, b""),
        request("GET", "other.example.com", PATH, &QUERY, &JSON, b""),
        request("GET", HOST, "/v1/other/vpcs", &QUERY, &JSON, b""),
        request("GET", HOST, PATH, &query, &JSON, b""),
        request("GET", HOST, PATH, &QUERY, &project, b""),
        request("GET", HOST, PATH, &QUERY, &JSON, b"x"),
    ];
    for (index, variant) in variants.iter().enumerate() {
        assert_ne!(
            sign(variant, &EXAMPLE, TIME).unwrap().signature,
            base,
            "variant {index}"
        );
    }
    let other_key = Credentials {
        secret: "other",
        ..EXAMPLE
    };
    assert_ne!(sign(&example(), &other_key, TIME).unwrap().signature, base);
    let later = datetime!(2019-11-15 03:36:56 UTC);
    assert_ne!(sign(&example(), &EXAMPLE, later).unwrap().signature, base);
}

#[test]
fn the_signers_own_headers_cannot_be_given() {
    let headers = [("X-Sdk-Date", "20200101T000000Z")];
    let given = request("GET", HOST, PATH, &[], &headers, b"");
    assert_eq!(
        sign(&given, &EXAMPLE, TIME),
        Err(SigningError::Duplicate("x-sdk-date".into()))
    );
}
