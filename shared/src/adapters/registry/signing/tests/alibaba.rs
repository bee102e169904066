//! Alibaba Cloud's RPC signature against the worked example of its "Request signatures" page
//! (DescribeRegions, AccessKeyId `testid`, AccessKeySecret `testsecret`), and its ROA signature,
//! for which no example with its secret is published: see `the_roa_example_is_worked_out`.

use time::macros::datetime;
use time::OffsetDateTime;

use super::request;
use crate::adapters::registry::signing::alibaba::{
    roa_signature, roa_string_to_sign, sign_roa, sign_rpc,
};
use crate::adapters::registry::signing::{Credentials, Request, SigningError};

const EXAMPLE: Credentials<'static> = Credentials {
    id: "testid",
    secret: "testsecret",
};
const DESCRIBE_REGIONS: [(&str, &str); 3] = [
    ("Action", "DescribeRegions"),
    ("Version", "2014-05-26"),
    ("Format", "XML"),
];
const RPC_TIME: OffsetDateTime = datetime!(2016-02-23 12:46:24 UTC);
const RPC_NONCE: &str = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf";

#[test]
fn the_published_rpc_example_is_reproduced() {
    let signed = sign_rpc("GET", &DESCRIBE_REGIONS, &EXAMPLE, RPC_TIME, RPC_NONCE).unwrap();
    assert_eq!(
        signed.string_to_sign,
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML\
         %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
         %26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z\
         %26Version%3D2014-05-26"
    );
    assert_eq!(signed.signature, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    assert_eq!(
        signed.addition("Signature"),
        Some("OLeaidS1JvxuMvnyHOwuJ+uX5qY=")
    );
    assert_eq!(signed.addition("Timestamp"), Some("2016-02-23T12:46:24Z"));
    assert_eq!(signed.addition("AccessKeyId"), Some("testid"));
    assert_eq!(signed.addition("SignatureNonce"), Some(RPC_NONCE));
}

#[test]
fn rpc_encodes_special_characters_twice_in_the_string_to_sign() {
    let parameters = [("Action", "ListRepository"), ("RepoName", "a b*c~/é")];
    let signed = sign_rpc("GET", &parameters, &EXAMPLE, RPC_TIME, RPC_NONCE).unwrap();
    assert!(signed.canonical.contains("&RepoName=a%20b%2Ac~%2F%C3%A9&"));
    assert!(signed
        .string_to_sign
        .contains("%26RepoName%3Da%2520b%252Ac~%252F%25C3%25A9%26"));
}

#[test]
fn rpc_changes_with_any_signed_part_and_refuses_its_own_parameters() {
    let base = sign_rpc("GET", &DESCRIBE_REGIONS, &EXAMPLE, RPC_TIME, RPC_NONCE).unwrap();
    let json = [DESCRIBE_REGIONS[0], DESCRIBE_REGIONS[1], ("Format", "JSON")];
    let other_key = Credentials {
        secret: "other",
        ..EXAMPLE
    };
    let later = datetime!(2016-02-23 12:46:25 UTC);
    let variants = [
        sign_rpc("POST", &DESCRIBE_REGIONS, &EXAMPLE, RPC_TIME, RPC_NONCE),
        sign_rpc("GET", &json, &EXAMPLE, RPC_TIME, RPC_NONCE),
        sign_rpc("GET", &DESCRIBE_REGIONS, &other_key, RPC_TIME, RPC_NONCE),
        sign_rpc("GET", &DESCRIBE_REGIONS, &EXAMPLE, later, RPC_NONCE),
        sign_rpc(
            "GET",
            &DESCRIBE_REGIONS,
            &EXAMPLE,
            RPC_TIME,
            "another-nonce",
        ),
    ];
    for (index, variant) in variants.into_iter().enumerate() {
        assert_ne!(
            variant.unwrap().signature,
            base.signature,
            "variant {index}"
        );
    }
    let own = [("Action", "DescribeRegions"), ("Timestamp", "x")];
    assert_eq!(
        sign_rpc("GET", &own, &EXAMPLE, RPC_TIME, RPC_NONCE),
        Err(SigningError::Duplicate("Timestamp".into()))
    );
    assert_eq!(
        sign_rpc("GET", &DESCRIBE_REGIONS, &EXAMPLE, RPC_TIME, ""),
        Err(SigningError::EmptyNonce)
    );
}

/// The string to sign and the HMAC of Alibaba's SDKs' own tests (`openapi-util`'s
/// `getStringToSign` and `getROASignature`).
#[test]
fn the_sdks_roa_vectors_are_reproduced() {
    let headers: Vec<(String, String)> = [
        ("accept", "application/json"),
        ("content-md5", "md5"),
        ("content-type", "application/json"),
        ("date", "date"),
        ("x-acs-custom-key", "any value"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let query = [("key", "val ue with space")];
    assert_eq!(
        roa_string_to_sign("GET", "/", &query, &headers).unwrap(),
        "GET\napplication/json\nmd5\napplication/json\ndate\nx-acs-custom-key:any value\n\
         /?key=val ue with space"
    );
    assert_eq!(
        roa_string_to_sign("GET", "/", &[], &[]).unwrap(),
        "GET\n\n\n\n\n/"
    );
    assert_eq!(
        roa_signature("stringtosign", "secret").unwrap(),
        "OmuTAr79tpI6CRoAdmzKRq5lHs0="
    );
}

const CR_HEADERS: [(&str, &str); 4] = [
    ("Accept", "application/json"),
    ("Content-Type", "application/json;charset=utf-8"),
    ("x-acs-version", "2016-06-07"),
    ("x-acs-region-id", "cn-hangzhou"),
];
const ROA_TIME: OffsetDateTime = datetime!(2018-05-23 12:00:01 UTC);
const ROA_NONCE: &str = "f63659d4-10ac-483b-99da-ea8fde61eae3";

fn namespaces() -> Request<'static> {
    request(
        "GET",
        "cr.cn-hangzhou.aliyuncs.com",
        "/namespaces",
        &[],
        &CR_HEADERS,
        b"",
    )
}

/// Container Registry's "Common parameters" page shows this request (GET /namespaces) but not its
/// secret, so the signature cannot be checked against it. The string to sign is worked out by hand
/// from the ROA specification (four standard values, the `x-acs-*` headers in order, the
/// resource); the signature over it with the secret `testsecret` was computed apart, with Python's
/// `hmac` and `base64`.
#[test]
fn the_roa_example_is_worked_out() {
    let signed = sign_roa(&namespaces(), &EXAMPLE, ROA_TIME, ROA_NONCE).unwrap();
    assert_eq!(
        signed.string_to_sign,
        "GET\napplication/json\n\napplication/json;charset=utf-8\n\
         Wed, 23 May 2018 12:00:01 GMT\n\
         x-acs-region-id:cn-hangzhou\nx-acs-signature-method:HMAC-SHA1\n\
         x-acs-signature-nonce:f63659d4-10ac-483b-99da-ea8fde61eae3\n\
         x-acs-signature-version:1.0\nx-acs-version:2016-06-07\n/namespaces"
    );
    assert_eq!(signed.signature, "YAD1Hx0c5qtbSH6FXmdZ4vY9v34=");
    assert_eq!(
        signed.addition("Authorization"),
        Some("acs testid:YAD1Hx0c5qtbSH6FXmdZ4vY9v34=")
    );
    assert_eq!(
        signed.addition("Date"),
        Some("Wed, 23 May 2018 12:00:01 GMT")
    );
    assert_eq!(signed.addition("x-acs-signature-nonce"), Some(ROA_NONCE));
}

#[test]
fn the_roa_resource_orders_its_query_raw_and_writes_bare_names() {
    let query = [
        ("PageSize", "30"),
        ("Filter", "a b/ü"),
        ("Page", "1"),
        ("Flag", ""),
    ];
    let listing = request(
        "GET",
        "cr.cn-hangzhou.aliyuncs.com",
        "/repos/ns",
        &query,
        &CR_HEADERS,
        b"",
    );
    let signed = sign_roa(&listing, &EXAMPLE, ROA_TIME, ROA_NONCE).unwrap();
    assert!(signed
        .string_to_sign
        .ends_with("\n/repos/ns?Filter=a b/ü&Flag&Page=1&PageSize=30"));
}

#[test]
fn roa_changes_with_any_signed_part_but_not_the_unsigned_body() {
    let base = sign_roa(&namespaces(), &EXAMPLE, ROA_TIME, ROA_NONCE)
        .unwrap()
        .signature;
    let md5 = [
        CR_HEADERS[0],
        CR_HEADERS[1],
        ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
    ];
    let v2 = [
        CR_HEADERS[0],
        CR_HEADERS[1],
        ("x-acs-version", "2018-12-01"),
    ];
    let page = [("Page", "2")];
    let host = "cr.cn-hangzhou.aliyuncs.com";
    let variants = [
        request("PUT", host, "/namespaces", &[], &CR_HEADERS, b""),
        request("GET", host, "/namespaces/ferry", &[], &CR_HEADERS, b""),
        request("GET", host, "/namespaces", &page, &CR_HEADERS, b""),
        request("GET", host, "/namespaces", &[], &md5, b""),
        request("GET", host, "/namespaces", &[], &v2, b""),
    ];
    for (index, variant) in variants.iter().enumerate() {
        let signed = sign_roa(variant, &EXAMPLE, ROA_TIME, ROA_NONCE).unwrap();
        assert_ne!(signed.signature, base, "variant {index}");
    }
    let later = datetime!(2018-05-23 12:00:02 UTC);
    assert_ne!(
        sign_roa(&namespaces(), &EXAMPLE, later, ROA_NONCE)
            .unwrap()
            .signature,
        base
    );
    assert_ne!(
        sign_roa(&namespaces(), &EXAMPLE, ROA_TIME, "n2")
            .unwrap()
            .signature,
        base
    );
    let body = request("GET", host, "/namespaces", &[], &CR_HEADERS, b"{}");
    assert_eq!(
        sign_roa(&body, &EXAMPLE, ROA_TIME, ROA_NONCE)
            .unwrap()
            .signature,
        base
    );
}
