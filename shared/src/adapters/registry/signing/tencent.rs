//! Tencent Cloud API 3.0's TC3-HMAC-SHA256 signature, the one TCR's API
//! (`tcr.tencentcloudapi.com`) takes.
//!
//! Specification and worked example ("Signature v3", the same page in every product's API docs):
//! <https://www.tencentcloud.com/document/product/267/37447>. The canonical request signs the
//! host, the caller's headers (Content-Type at least) and `x-tc-action`, names and values in lower
//! case; the key is derived from `"TC3" + SecretKey` over the UTC date and the service.

use time::{macros::format_description, OffsetDateTime};

use super::{
    canonical_headers, canonical_query, check, encode_path, hmac_sha256, sha256_hex, utc,
    with_headers, Credentials, Request, Signed, SigningError,
};

pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// The API call a request makes: its service (the host's first label, `tcr`), action, API version
/// and region (omitted by region-less actions).
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    pub service: &'a str,
    pub action: &'a str,
    pub version: &'a str,
    pub region: Option<&'a str>,
}

/// Signs `request` calling `action` at `timestamp` (Unix seconds, sent as X-TC-Timestamp; the
/// credential scope takes its UTC date). The additions are Authorization and the X-TC-* headers.
pub fn sign(
    request: &Request<'_>,
    action: &Action<'_>,
    credentials: &Credentials<'_>,
    timestamp: i64,
) -> Result<Signed, SigningError> {
    check(request, credentials)?;
    if !request
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        return Err(SigningError::MissingHeader("Content-Type"));
    }
    let date = OffsetDateTime::from_unix_timestamp(timestamp)
        .map_err(|_| SigningError::Time)
        .and_then(utc)?
        .format(format_description!("[year]-[month]-[day]"))
        .map_err(|_| SigningError::Time)?;

    let signed_headers: Vec<(String, String)> = with_headers(
        request,
        &[("Host", request.host), ("X-TC-Action", action.action)],
    )
    .into_iter()
    .map(|(name, value)| (name, value.to_lowercase()))
    .collect();
    let (headers, signed_names) = canonical_headers(&signed_headers)?;
    let canonical = [
        request.method.to_string(),
        encode_path(request.path),
        canonical_query(request.query),
        headers,
        signed_names.clone(),
        sha256_hex(request.body),
    ]
    .join("\n");

    let scope = format!("{date}/{}/tc3_request", action.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let secret_date = hmac_sha256(
        format!("TC3{}", credentials.secret).as_bytes(),
        date.as_bytes(),
    )?;
    let secret_service = hmac_sha256(&secret_date, action.service.as_bytes())?;
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request")?;
    let signature = hex::encode(hmac_sha256(&secret_signing, string_to_sign.as_bytes())?);

    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}",
        credentials.id
    );
    let mut additions = vec![
        ("Authorization".to_string(), authorization),
        ("X-TC-Action".to_string(), action.action.to_string()),
        ("X-TC-Timestamp".to_string(), timestamp.to_string()),
        ("X-TC-Version".to_string(), action.version.to_string()),
    ];
    if let Some(region) = action.region {
        additions.push(("X-TC-Region".to_string(), region.to_string()));
    }
    Ok(Signed {
        canonical,
        string_to_sign,
        signature,
        additions,
    })
}
