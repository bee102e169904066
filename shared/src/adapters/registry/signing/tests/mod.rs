//! The signers against their providers' published examples, and the canonical forms they share.

mod alibaba;
mod huawei;
mod tencent;
mod volcengine;

use super::*;

pub(super) fn request<'a>(
    method: &'a str,
    host: &'a str,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
) -> Request<'a> {
    Request {
        method,
        host,
        path,
        query,
        headers,
        body,
    }
}

pub(super) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn the_empty_body_hashes_to_sha256_of_nothing() {
    assert_eq!(sha256_hex(b""), EMPTY_SHA256);
}

#[test]
fn percent_encoding_leaves_only_the_unreserved_characters() {
    assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
    assert_eq!(percent_encode("a b+c*d/e"), "a%20b%2Bc%2Ad%2Fe");
    assert_eq!(percent_encode("12:46:24Z"), "12%3A46%3A24Z");
    assert_eq!(percent_encode("未命名"), "%E6%9C%AA%E5%91%BD%E5%90%8D");
    assert_eq!(encode_path("/v2/my ns/a:b/"), "/v2/my%20ns/a%3Ab/");
}

#[test]
fn the_query_is_ordered_by_name_and_a_names_values_keep_their_order() {
    let query = [
        ("b", "2"),
        ("a", "z"),
        ("B", "x"),
        ("a", "y"),
        ("c d", "=&"),
    ];
    assert_eq!(canonical_query(&query), "B=x&a=z&a=y&b=2&c%20d=%3D%26");
    assert_eq!(canonical_query(&[]), "");
}

#[test]
fn headers_are_lower_cased_trimmed_and_ordered() {
    let headers = [
        ("X-B".to_string(), "  two  ".to_string()),
        ("Host".to_string(), "example.com".to_string()),
        ("x-a".to_string(), "One".to_string()),
    ];
    let (canonical, signed) = canonical_headers(&headers).unwrap();
    assert_eq!(canonical, "host:example.com\nx-a:One\nx-b:two\n");
    assert_eq!(signed, "host;x-a;x-b");
}

#[test]
fn a_header_twice_or_with_a_line_break_is_refused() {
    let twice = [
        ("Host".to_string(), "a".to_string()),
        ("host".to_string(), "b".to_string()),
    ];
    assert_eq!(
        canonical_headers(&twice),
        Err(SigningError::Duplicate("host".into()))
    );
    let broken = [("X-A".to_string(), "a\r\nX-B: b".to_string())];
    assert_eq!(
        canonical_headers(&broken),
        Err(SigningError::LineBreak("X-A".into()))
    );
}

#[test]
fn times_outside_the_formats_are_refused() {
    let before = time::macros::datetime!(1969-12-31 23:59:59 UTC);
    assert_eq!(basic_timestamp(before), Err(SigningError::Time));
    let local = time::macros::datetime!(2019-11-15 11:36:55 +08:00);
    assert_eq!(basic_timestamp(local).unwrap(), "20191115T033655Z");
}

#[test]
fn empty_credentials_and_relative_paths_are_refused() {
    let ok = request("GET", "h", "/", &[], &[], b"");
    let empty_secret = Credentials {
        id: "a",
        secret: "",
    };
    assert_eq!(
        check(&ok, &empty_secret),
        Err(SigningError::EmptyCredential("secret"))
    );
    let relative = request("GET", "h", "v1", &[], &[], b"");
    let credentials = Credentials {
        id: "a",
        secret: "b",
    };
    assert_eq!(
        check(&relative, &credentials),
        Err(SigningError::RelativePath("v1".into()))
    );
    assert!(format!(
        "{:?}",
        Credentials {
            id: "id",
            secret: "s3cret"
        }
    )
    .contains("<redacted>"));
    assert!(!format!(
        "{:?}",
        Credentials {
            id: "id",
            secret: "s3cret"
        }
    )
    .contains("s3cret"));
}
