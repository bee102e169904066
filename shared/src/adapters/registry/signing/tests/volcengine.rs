//! Volcengine's HMAC-SHA256 against the worked examples of its signature docs: "签名过程Demo"
//! (docs/6369/67270, IAM ListUsers, each step published) and "签名方法" (docs/6369/67269, Billing
//! GET QueryBalanceAcct and POST ListBill with the same key pair).

use time::macros::datetime;
use time::OffsetDateTime;

use super::{request, EMPTY_SHA256};
use crate::adapters::registry::signing::volcengine::{sign, signing_key, Scope};
use crate::adapters::registry::signing::{sha256_hex, Credentials, Request, SigningError};

const EXAMPLE: Credentials<'static> = Credentials {
    id: "AKLTYWViMTVmZGYzM2E0NDI5Mzk2MDZjNjFmMjc2MjRjMzg",
    secret: "WkRZeE1EQmxPVGhsWWpWak5HVmtNbUUxTXpZeU9UVXlOMlE1TmpZeVlqTQ==",
};
const IAM: Scope<'static> = Scope {
    region: "cn-beijing",
    service: "iam",
};
const BILLING: Scope<'static> = Scope {
    region: "cn-beijing",
    service: "billing",
};
/// In the order of the example's URL: the canonical query reorders them.
const LIST_USERS: [(&str, &str); 4] = [
    ("Action", "ListUsers"),
    ("Version", "2018-01-01"),
    ("Limit", "10"),
    ("Offset", "0"),
];
const TIME: OffsetDateTime = datetime!(2024-06-19 07:13:06 UTC);

fn list_users() -> Request<'static> {
    request("GET", "iam.volcengineapi.com", "/", &LIST_USERS, &[], b"")
}

#[test]
fn the_published_demo_is_reproduced_step_by_step() {
    let signed = sign(&list_users(), &IAM, &EXAMPLE, TIME).unwrap();
    assert_eq!(
        signed.canonical,
        format!(
            "GET\n/\nAction=ListUsers&Limit=10&Offset=0&Version=2018-01-01\n\
             host:iam.volcengineapi.com\nx-date:20240619T071306Z\n\nhost;x-date\n{EMPTY_SHA256}"
        )
    );
    assert_eq!(
        sha256_hex(signed.canonical.as_bytes()),
        "5ed5bca3905e1fcbf789abb56a17c2d819674a3bcfa468ae476bd1ea80d135cb"
    );
    assert_eq!(
        signed.string_to_sign,
        "HMAC-SHA256\n20240619T071306Z\n20240619/cn-beijing/iam/request\n\
         5ed5bca3905e1fcbf789abb56a17c2d819674a3bcfa468ae476bd1ea80d135cb"
    );
    assert_eq!(
        hex::encode(signing_key(EXAMPLE.secret, "20240619", &IAM).unwrap()),
        "abee62e533a58934c49954459a3c3237d2fccea517c9a7c8a2651d8ea7779826"
    );
    assert_eq!(
        signed.addition("Authorization"),
        Some(
            "HMAC-SHA256 Credential=AKLTYWViMTVmZGYzM2E0NDI5Mzk2MDZjNjFmMjc2MjRjMzg/20240619/\
             cn-beijing/iam/request, SignedHeaders=host;x-date, \
             Signature=e31c4558bcfe08a286001f59cedbf0791ffd0b2362f10e55ee2627467bcdde93"
        )
    );
    assert_eq!(signed.addition("X-Date"), Some("20240619T071306Z"));
}

#[test]
fn the_billing_examples_get_and_post_are_reproduced() {
    let time = datetime!(2025-03-29 18:09:37 UTC);
    let query = [("Action", "QueryBalanceAcct"), ("Version", "2022-01-01")];
    let get = request("GET", "billing.volcengineapi.com", "/", &query, &[], b"");
    let signed = sign(&get, &BILLING, &EXAMPLE, time).unwrap();
    assert_eq!(
        sha256_hex(signed.canonical.as_bytes()),
        "43171c1658c64b5db55c58d54988a4598d2d09a5613136beaa5eef40eae6e2c1"
    );
    assert_eq!(
        signed.signature,
        "1eda9e7e6b1728151a8e8791fdaf67cfbd28bd5c80d0fce2eb208746cf483105"
    );

    let query = [("Action", "ListBill"), ("Version", "2022-01-01")];
    let body = br#"{"Limit":10,"BillPeriod":"2023-08"}"#;
    let post = request("POST", "billing.volcengineapi.com", "/", &query, &[], body);
    let signed = sign(&post, &BILLING, &EXAMPLE, time).unwrap();
    assert_eq!(
        sha256_hex(signed.canonical.as_bytes()),
        "27383e3b56d03850f5634483527fbddcbf06cf98de1bc8a6679ef2300bff3b15"
    );
    assert_eq!(
        signed.signature,
        "5e8480ceea12d0000a23c054151c50dd02c1a7dec835004057d19f13d53a7658"
    );
}

#[test]
fn caller_headers_are_signed_in_order_and_values_encoded() {
    let headers = [
        ("X-Content-Sha256", EMPTY_SHA256),
        ("Content-Type", "application/json"),
    ];
    let query = [("Filter.Names.1", "ns/a b"), ("Action", "ListNamespaces")];
    let cr = request(
        "GET",
        "cr.cn-beijing.volcengineapi.com",
        "/",
        &query,
        &headers,
        b"",
    );
    let signed = sign(
        &cr,
        &Scope {
            region: "cn-beijing",
            service: "cr",
        },
        &EXAMPLE,
        TIME,
    )
    .unwrap();
    let lines: Vec<&str> = signed.canonical.lines().collect();
    assert_eq!(lines[2], "Action=ListNamespaces&Filter.Names.1=ns%2Fa%20b");
    assert_eq!(lines[8], "content-type;host;x-content-sha256;x-date");
    assert!(signed.addition("Authorization").is_some_and(
        |a| a.contains("/20240619/cn-beijing/cr/request, SignedHeaders=content-type;")
    ));
}

#[test]
fn changing_any_signed_part_changes_the_signature() {
    let base = sign(&list_users(), &IAM, &EXAMPLE, TIME).unwrap().signature;
    let query = [
        ("Action", "ListUsers"),
        ("Version", "2018-01-01"),
        ("Limit", "11"),
    ];
    let json = [("Content-Type", "application/json")];
    let variants = [
        request("POST", "iam.volcengineapi.com", "/", &LIST_USERS, &[], b""),
        request("GET", "open.volcengineapi.com", "/", &LIST_USERS, &[], b""),
        request("GET", "iam.volcengineapi.com", "/x", &LIST_USERS, &[], b""),
        request("GET", "iam.volcengineapi.com", "/", &query, &[], b""),
        request("GET", "iam.volcengineapi.com", "/", &LIST_USERS, &json, b""),
        request("GET", "iam.volcengineapi.com", "/", &LIST_USERS, &[], b"{}"),
    ];
    for (index, variant) in variants.iter().enumerate() {
        assert_ne!(
            sign(variant, &IAM, &EXAMPLE, TIME).unwrap().signature,
            base,
            "variant {index}"
        );
    }
    let other_region = Scope {
        region: "cn-shanghai",
        ..IAM
    };
    let other_key = Credentials {
        secret: "other",
        ..EXAMPLE
    };
    assert_ne!(
        sign(&list_users(), &other_region, &EXAMPLE, TIME)
            .unwrap()
            .signature,
        base
    );
    assert_ne!(
        sign(&list_users(), &BILLING, &EXAMPLE, TIME)
            .unwrap()
            .signature,
        base
    );
    assert_ne!(
        sign(&list_users(), &IAM, &other_key, TIME)
            .unwrap()
            .signature,
        base
    );
    let later = datetime!(2024-06-19 07:13:07 UTC);
    assert_ne!(
        sign(&list_users(), &IAM, &EXAMPLE, later)
            .unwrap()
            .signature,
        base
    );
}

#[test]
fn a_request_that_cannot_be_signed_is_refused() {
    let host = [("host", "iam.volcengineapi.com")];
    let twice = request("GET", "iam.volcengineapi.com", "/", &[], &host, b"");
    assert_eq!(
        sign(&twice, &IAM, &EXAMPLE, TIME),
        Err(SigningError::Duplicate("host".into()))
    );
    let anonymous = Credentials { id: "", ..EXAMPLE };
    assert_eq!(
        sign(&list_users(), &IAM, &anonymous, TIME),
        Err(SigningError::EmptyCredential("id"))
    );
}
