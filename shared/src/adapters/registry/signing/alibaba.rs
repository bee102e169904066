//! Alibaba Cloud's HMAC-SHA1 signatures, in the two styles Container Registry's APIs take:
//!
//! - RPC (`cr` 2018-12-01, the enterprise edition): the signature is a query parameter over the
//!   sorted, percent-encoded parameters. Specification and worked example (DescribeRegions,
//!   AccessKeySecret `testsecret`): <https://www.alibabacloud.com/help/doc-detail/144946.htm>
//!   (Container Registry's copy of the RPC "Request signatures" page).
//! - ROA (`cr` 2016-06-07, the personal edition): `Authorization: acs <AccessKeyId>:<signature>`
//!   over the Accept, Content-MD5, Content-Type and Date values, the `x-acs-*` headers and the
//!   resource. Specification: <https://www.alibabacloud.com/help/doc-detail/72382.htm> and
//!   <https://help.aliyun.com/document_detail/315525.html>.

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use std::time::SystemTime;
use time::{macros::format_description, OffsetDateTime};

use super::{
    canonical_headers, canonical_query, check, check_credentials, hmac_sha1, percent_encode, utc,
    Credentials, Request, Signed, SigningError,
};

pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
pub const SIGNATURE_VERSION: &str = "1.0";

/// Signs an RPC-style call. `parameters` are the call's own (Action, Version, Format, RegionId…),
/// not percent-encoded; `method` is how they are sent (GET in the query, POST as a form). The
/// additions are the parameters to send with them: AccessKeyId, the Signature* ones and
/// Timestamp (`time` in UTC). Send them all as [`super::canonical_query`] encodes them.
pub fn sign_rpc(
    method: &str,
    parameters: &[(&str, &str)],
    credentials: &Credentials<'_>,
    time: OffsetDateTime,
    nonce: &str,
) -> Result<Signed, SigningError> {
    check_credentials(credentials)?;
    if nonce.is_empty() {
        return Err(SigningError::EmptyNonce);
    }
    let timestamp = utc(time)?
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .map_err(|_| SigningError::Time)?;
    let common = [
        ("AccessKeyId", credentials.id),
        ("SignatureMethod", SIGNATURE_METHOD),
        ("SignatureNonce", nonce),
        ("SignatureVersion", SIGNATURE_VERSION),
        ("Timestamp", timestamp.as_str()),
    ];
    if let Some((name, _)) = parameters
        .iter()
        .find(|(name, _)| *name == "Signature" || common.iter().any(|(own, _)| own == name))
    {
        return Err(SigningError::Duplicate(name.to_string()));
    }
    let all: Vec<(&str, &str)> = parameters.iter().chain(&common).copied().collect();
    let canonical = canonical_query(&all);
    let string_to_sign = format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical)
    );
    let key = format!("{}&", credentials.secret);
    let signature = BASE64.encode(hmac_sha1(key.as_bytes(), string_to_sign.as_bytes())?);

    let mut additions: Vec<(String, String)> = common
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    additions.push(("Signature".to_string(), signature.clone()));
    Ok(Signed {
        canonical,
        string_to_sign,
        signature,
        additions,
    })
}

/// Signs a ROA-style call at `time` (sent as Date) with `nonce`. The caller's headers (Accept,
/// Content-Type, Content-MD5 when it sends one, `x-acs-version`, `x-acs-region-id`…) are signed;
/// the body is signed only through Content-MD5. The additions are Date, the
/// `x-acs-signature-*` headers and Authorization.
pub fn sign_roa(
    request: &Request<'_>,
    credentials: &Credentials<'_>,
    time: OffsetDateTime,
    nonce: &str,
) -> Result<Signed, SigningError> {
    check(request, credentials)?;
    if nonce.is_empty() {
        return Err(SigningError::EmptyNonce);
    }
    let date = httpdate::fmt_http_date(SystemTime::from(utc(time)?));
    let mut additions: Vec<(String, String)> = [
        ("Date", date.as_str()),
        ("x-acs-signature-method", SIGNATURE_METHOD),
        ("x-acs-signature-nonce", nonce),
        ("x-acs-signature-version", SIGNATURE_VERSION),
    ]
    .iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    let headers: Vec<(String, String)> = additions
        .iter()
        .cloned()
        .chain(
            request
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string())),
        )
        .collect();
    let string_to_sign = roa_string_to_sign(request.method, request.path, request.query, &headers)?;
    let signature = roa_signature(&string_to_sign, credentials.secret)?;
    additions.push((
        "Authorization".to_string(),
        format!("acs {}:{signature}", credentials.id),
    ));
    Ok(Signed {
        canonical: string_to_sign.clone(),
        string_to_sign,
        signature,
        additions,
    })
}

/// ROA's string to sign over every header sent: the method; the Accept, Content-MD5, Content-Type
/// and Date values (empty when absent), each on its line; the `x-acs-*` headers as
/// `name:value` lines, ordered; then the resource, the path and its query ordered by name, not
/// percent-encoded, a parameter without a value written as its name alone.
pub fn roa_string_to_sign(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(String, String)],
) -> Result<String, SigningError> {
    let value = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name.trim().eq_ignore_ascii_case(wanted))
            .map_or("", |(_, value)| value.trim())
    };
    let standard: String = ["accept", "content-md5", "content-type", "date"]
        .iter()
        .map(|name| format!("{}\n", value(name)))
        .collect();
    let acs: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| name.trim().to_ascii_lowercase().starts_with("x-acs-"))
        .cloned()
        .collect();
    let (acs_lines, _) = canonical_headers(&acs)?;

    let mut parameters = query.to_vec();
    parameters.sort_by(|a, b| a.0.cmp(b.0));
    let resource = if parameters.is_empty() {
        path.to_string()
    } else {
        let joined = parameters
            .iter()
            .map(|(name, value)| {
                if value.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}={value}")
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        format!("{path}?{joined}")
    };
    Ok(format!("{method}\n{standard}{acs_lines}{resource}"))
}

/// `Base64(HMAC-SHA1(secret, string_to_sign))`, ROA's signature.
pub fn roa_signature(string_to_sign: &str, secret: &str) -> Result<String, SigningError> {
    Ok(BASE64.encode(hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes())?))
}
