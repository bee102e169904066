//! Huawei Cloud's AK/SK signature, APIG's `SDK-HMAC-SHA256`, the one SWR's API takes.
//!
//! Specification and worked example ("AK/SK Signing and Authentication Algorithm" of the API
//! Request Signing Guide; the example's string to sign and signature):
//! <https://support.huaweicloud.com/intl/ar-mena/devg-apisign/api-sign-algorithm-004.html>
//! and <https://support.huaweicloud.com/eu/fr-fr/devg-apisign/api-sign-algorithm-003.html>.
//! Unlike AWS's, the canonical URI always ends in `/`, there is no credential scope and the secret
//! key signs the string directly.

use time::OffsetDateTime;

use super::{
    basic_timestamp, canonical_headers, canonical_query, check, encode_path, hmac_sha256,
    sha256_hex, with_headers, Credentials, Request, Signed, SigningError,
};

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// Signs `request` at `time` (sent as X-Sdk-Date). Host, X-Sdk-Date and the caller's headers are
/// signed; the additions are X-Sdk-Date and Authorization.
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials<'_>,
    time: OffsetDateTime,
) -> Result<Signed, SigningError> {
    check(request, credentials)?;
    let date = basic_timestamp(time)?;
    let (headers, signed_names) = canonical_headers(&with_headers(
        request,
        &[("Host", request.host), ("X-Sdk-Date", &date)],
    ))?;
    let canonical = [
        request.method.to_string(),
        canonical_uri(request.path),
        sorted_query(request.query),
        headers,
        signed_names.clone(),
        sha256_hex(request.body),
    ]
    .join("\n");

    let string_to_sign = format!("{ALGORITHM}\n{date}\n{}", sha256_hex(canonical.as_bytes()));
    let signature = hex::encode(hmac_sha256(
        credentials.secret.as_bytes(),
        string_to_sign.as_bytes(),
    )?);
    let authorization = format!(
        "{ALGORITHM} Access={}, SignedHeaders={signed_names}, Signature={signature}",
        credentials.id
    );
    Ok(Signed {
        canonical,
        string_to_sign,
        signature,
        additions: vec![
            ("X-Sdk-Date".to_string(), date),
            ("Authorization".to_string(), authorization),
        ],
    })
}

/// The path's segments percent-encoded, ending in `/` as APIG's signers have it.
fn canonical_uri(path: &str) -> String {
    let uri = encode_path(path);
    if uri.ends_with('/') {
        uri
    } else {
        uri + "/"
    }
}

/// Huawei's SDKs order a name's values too, not only the names.
fn sorted_query(query: &[(&str, &str)]) -> String {
    let mut pairs = query.to_vec();
    pairs.sort();
    canonical_query(&pairs)
}
