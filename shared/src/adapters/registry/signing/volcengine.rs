//! Volcengine's HMAC-SHA256 signature (`HMAC-SHA256 Credential=<AK>/<date>/<region>/<service>/request`),
//! the one its OpenAPI, Container Registry's (`cr`) among them, takes.
//!
//! Specification: <https://www.volcengine.com/docs/6369/67269>; worked example ("签名过程Demo",
//! IAM ListUsers, with its canonical request hash, signing key and signature):
//! <https://www.volcengine.com/docs/6369/67270>. It is AWS's SigV4 shape with the secret used as
//! is (no prefix) at the root of the key chain and `request` closing the scope.

use time::OffsetDateTime;

use super::{
    basic_timestamp, canonical_headers, canonical_query, check, encode_path, hmac_sha256,
    sha256_hex, with_headers, Credentials, Request, Signed, SigningError,
};

pub const ALGORITHM: &str = "HMAC-SHA256";

/// Where a request goes: the region (`cn-beijing`) and the service (`cr`) of its credential scope.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// Signs `request` for `scope` at `time` (sent as X-Date). Host, X-Date and the caller's headers
/// are signed; the additions are X-Date and Authorization.
pub fn sign(
    request: &Request<'_>,
    scope: &Scope<'_>,
    credentials: &Credentials<'_>,
    time: OffsetDateTime,
) -> Result<Signed, SigningError> {
    check(request, credentials)?;
    let date_time = basic_timestamp(time)?;
    let date = date_time.get(..8).ok_or(SigningError::Time)?;
    let (headers, signed_names) = canonical_headers(&with_headers(
        request,
        &[("Host", request.host), ("X-Date", &date_time)],
    ))?;
    let canonical = [
        request.method.to_string(),
        encode_path(request.path),
        canonical_query(request.query),
        headers,
        signed_names.clone(),
        sha256_hex(request.body),
    ]
    .join("\n");

    let credential_scope = format!("{date}/{}/{}/request", scope.region, scope.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{date_time}\n{credential_scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let signature = hex::encode(hmac_sha256(
        &signing_key(credentials.secret, date, scope)?,
        string_to_sign.as_bytes(),
    )?);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{credential_scope}, SignedHeaders={signed_names}, Signature={signature}",
        credentials.id
    );
    Ok(Signed {
        canonical,
        string_to_sign,
        signature,
        additions: vec![
            ("X-Date".to_string(), date_time),
            ("Authorization".to_string(), authorization),
        ],
    })
}

/// `HMAC(HMAC(HMAC(HMAC(secret, date), region), service), "request")`.
pub fn signing_key(secret: &str, date: &str, scope: &Scope<'_>) -> Result<Vec<u8>, SigningError> {
    let key = hmac_sha256(secret.as_bytes(), date.as_bytes())?;
    let key = hmac_sha256(&key, scope.region.as_bytes())?;
    let key = hmac_sha256(&key, scope.service.as_bytes())?;
    hmac_sha256(&key, b"request")
}
