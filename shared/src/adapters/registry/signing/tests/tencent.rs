//! TC3-HMAC-SHA256 against the worked example of Tencent Cloud's "Signature v3" page
//! (CVM DescribeInstances, POST JSON, timestamp 1551113065).

use super::{request, EMPTY_SHA256};
use crate::adapters::registry::signing::tencent::{sign, Action};
use crate::adapters::registry::signing::{Credentials, Request, SigningError};

/// The example's body: the `\u` escapes are in the JSON text itself, as the page prints it.
const BODY: &str =
    r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
const JSON: [(&str, &str); 1] = [("Content-Type", "application/json; charset=utf-8")];
const DESCRIBE_INSTANCES: Action<'static> = Action {
    service: "cvm",
    action: "DescribeInstances",
    version: "2017-03-12",
    region: Some("ap-guangzhou"),
};
/// The page masks the key with asterisks, and its example is computed over the masked text.
const EXAMPLE: Credentials<'static> = Credentials {
    id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
    secret: "Gu5t9xGARNpq86cd98joQYCN3*******",
};
const TIMESTAMP: i64 = 1551113065;

fn example() -> Request<'static> {
    request(
        "POST",
        "cvm.tencentcloudapi.com",
        "/",
        &[],
        &JSON,
        BODY.as_bytes(),
    )
}

#[test]
fn the_published_example_is_reproduced() {
    let signed = sign(&example(), &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP).unwrap();
    assert_eq!(
        signed.canonical,
        "POST\n/\n\n\
         content-type:application/json; charset=utf-8\n\
         host:cvm.tencentcloudapi.com\n\
         x-tc-action:describeinstances\n\n\
         content-type;host;x-tc-action\n\
         35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    );
    assert_eq!(
        signed.string_to_sign,
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
         7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    );
    assert_eq!(
        signed.signature,
        "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3"
    );
    assert_eq!(
        signed.addition("Authorization"),
        Some(
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/\
             tc3_request, SignedHeaders=content-type;host;x-tc-action, \
             Signature=be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3"
        )
    );
    assert_eq!(signed.addition("X-TC-Action"), Some("DescribeInstances"));
    assert_eq!(signed.addition("X-TC-Timestamp"), Some("1551113065"));
    assert_eq!(signed.addition("X-TC-Version"), Some("2017-03-12"));
    assert_eq!(signed.addition("X-TC-Region"), Some("ap-guangzhou"));
}

#[test]
fn the_later_revision_with_the_whole_key_masked_is_reproduced() {
    let masked = Credentials {
        id: "AKID********************************",
        secret: "********************************",
    };
    let signed = sign(&example(), &DESCRIBE_INSTANCES, &masked, TIMESTAMP).unwrap();
    assert_eq!(
        signed.signature,
        "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
    );
}

/// 1551113065 is 2019-02-26 00:44:25 in Beijing: the scope's date is the UTC one.
#[test]
fn the_scope_takes_the_utc_date() {
    let signed = sign(&example(), &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP).unwrap();
    assert!(signed
        .string_to_sign
        .contains("\n2019-02-25/cvm/tc3_request\n"));
}

#[test]
fn a_get_signs_its_query_encoded_and_ordered_and_an_empty_body() {
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let query = [("Offset", "0"), ("Name", "a b/c*"), ("Limit", "10")];
    let get = request("GET", "tcr.tencentcloudapi.com", "/", &query, &form, b"");
    let action = Action {
        service: "tcr",
        region: None,
        ..DESCRIBE_INSTANCES
    };
    let signed = sign(&get, &action, &EXAMPLE, TIMESTAMP).unwrap();
    let lines: Vec<&str> = signed.canonical.lines().collect();
    assert_eq!(lines[2], "Limit=10&Name=a%20b%2Fc%2A&Offset=0");
    assert_eq!(lines.last(), Some(&EMPTY_SHA256));
    assert_eq!(signed.addition("X-TC-Region"), None);
}

#[test]
fn changing_any_signed_part_changes_the_signature() {
    let base = sign(&example(), &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP)
        .unwrap()
        .signature;
    let other_body = request("POST", "cvm.tencentcloudapi.com", "/", &[], &JSON, b"{}");
    let other_host = request(
        "POST",
        "tcr.tencentcloudapi.com",
        "/",
        &[],
        &JSON,
        BODY.as_bytes(),
    );
    let other_method = request(
        "GET",
        "cvm.tencentcloudapi.com",
        "/",
        &[],
        &JSON,
        BODY.as_bytes(),
    );
    let query = [("a", "1")];
    let with_query = request(
        "POST",
        "cvm.tencentcloudapi.com",
        "/",
        &query,
        &JSON,
        BODY.as_bytes(),
    );
    let plain = [("Content-Type", "text/plain")];
    let other_type = request(
        "POST",
        "cvm.tencentcloudapi.com",
        "/",
        &[],
        &plain,
        BODY.as_bytes(),
    );
    let other_key = Credentials {
        secret: "another",
        ..EXAMPLE
    };
    let other_action = Action {
        action: "DescribeZones",
        ..DESCRIBE_INSTANCES
    };
    let other_service = Action {
        service: "tcr",
        ..DESCRIBE_INSTANCES
    };
    let variants = [
        sign(&other_body, &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP),
        sign(&other_host, &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP),
        sign(&other_method, &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP),
        sign(&with_query, &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP),
        sign(&other_type, &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP),
        sign(&example(), &DESCRIBE_INSTANCES, &other_key, TIMESTAMP),
        sign(&example(), &other_action, &EXAMPLE, TIMESTAMP),
        sign(&example(), &other_service, &EXAMPLE, TIMESTAMP),
        sign(&example(), &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP + 1),
    ];
    for (index, variant) in variants.into_iter().enumerate() {
        assert_ne!(variant.unwrap().signature, base, "variant {index}");
    }
}

#[test]
fn a_request_without_content_type_or_with_its_own_action_header_is_refused() {
    let bare = request("POST", "cvm.tencentcloudapi.com", "/", &[], &[], b"");
    assert_eq!(
        sign(&bare, &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP),
        Err(SigningError::MissingHeader("Content-Type"))
    );
    let headers = [JSON[0], ("X-TC-Action", "Other")];
    let twice = request("POST", "cvm.tencentcloudapi.com", "/", &[], &headers, b"");
    assert_eq!(
        sign(&twice, &DESCRIBE_INSTANCES, &EXAMPLE, TIMESTAMP),
        Err(SigningError::Duplicate("x-tc-action".into()))
    );
    assert_eq!(
        sign(&example(), &DESCRIBE_INSTANCES, &EXAMPLE, i64::MAX),
        Err(SigningError::Time)
    );
}
