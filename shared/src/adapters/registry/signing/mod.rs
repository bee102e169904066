//! Request signers of the APIs behind four Chinese clouds' container registries: Tencent Cloud
//! (TC3-HMAC-SHA256), Huawei Cloud (APIG's SDK-HMAC-SHA256), Alibaba Cloud (the RPC and ROA
//! HMAC-SHA1 signatures) and Volcengine (HMAC-SHA256). Ferry calls these APIs for temporary
//! registry passwords, listings and namespaces.
//!
//! Each signer is a pure function of the request's parts, the credentials and the time (and, where
//! the scheme has one, the nonce) it is given: no clock, no randomness, no network. That is what
//! lets each one reproduce its provider's published example byte for byte.

pub mod alibaba;
pub mod huawei;
pub mod tencent;
pub mod volcengine;

#[cfg(test)]
mod tests;

use std::fmt;

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use time::{macros::format_description, OffsetDateTime, UtcOffset};

/// An API key pair: the public id (AccessKeyId, SecretId, AK) and the secret that signs.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

impl fmt::Debug for Credentials<'_> {
    /// The secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The parts of an HTTP request a signature covers, as the client will send them.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The Host header: the host, with its port where it is not the scheme's default.
    pub host: &'a str,
    /// The path, not percent-encoded, starting with `/`.
    pub path: &'a str,
    /// The query parameters, not percent-encoded, in the order they are sent.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers the client sends and wants signed, besides those the signer adds (Host included).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Headers (or, for Alibaba's RPC style, query parameters) a signer adds: name and value.
pub type Additions = Vec<(String, String)>;

/// A request's signature with the steps that led to it, the ones providers' examples show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// What the scheme hashes into its string to sign: the canonical request (Alibaba RPC: the
    /// canonicalized query; Alibaba ROA has none and repeats the string to sign).
    pub canonical: String,
    pub string_to_sign: String,
    /// The signature as it goes into the request (hex, or Base64 for Alibaba).
    pub signature: String,
    /// What to add to the request: headers, or Alibaba RPC's query parameters.
    pub additions: Additions,
}

impl Signed {
    /// The value of addition `name` (case-insensitive), if any.
    pub fn addition(&self, name: &str) -> Option<&str> {
        self.additions
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the credentials' {0} is empty")]
    EmptyCredential(&'static str),
    #[error("the path {0:?} does not start with '/'")]
    RelativePath(String),
    #[error("header {0:?} has a line break in its name or value")]
    LineBreak(String),
    #[error("{0:?} is set by the signer or given twice")]
    Duplicate(String),
    #[error("the scheme needs a {0} header")]
    MissingHeader(&'static str),
    #[error("the nonce is empty")]
    EmptyNonce,
    #[error("the time is outside the years 1970 to 9999")]
    Time,
    #[error("the HMAC key was refused")]
    Key,
}

fn check_credentials(credentials: &Credentials<'_>) -> Result<(), SigningError> {
    if credentials.id.is_empty() {
        return Err(SigningError::EmptyCredential("id"));
    }
    if credentials.secret.is_empty() {
        return Err(SigningError::EmptyCredential("secret"));
    }
    Ok(())
}

/// Checks what every scheme needs of a request and its credentials.
fn check(request: &Request<'_>, credentials: &Credentials<'_>) -> Result<(), SigningError> {
    check_credentials(credentials)?;
    if !request.path.starts_with('/') {
        return Err(SigningError::RelativePath(request.path.to_string()));
    }
    Ok(())
}

/// RFC 3986's unreserved characters are the only ones every scheme leaves as they are.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `text` percent-encoded as RFC 3986 asks: every byte but the unreserved ones (a space is `%20`).
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// A path with each segment percent-encoded and its slashes kept.
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// The query as Tencent, Huawei and Volcengine sign it: `name=value` pairs percent-encoded,
/// ordered by name (a name's values keep their order), joined by `&`. Send the query in this
/// form, so that what is signed is what the server reads.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(name, value)| (percent_encode(name), percent_encode(value)))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Canonical headers (`name:value\n`, names lower case, values trimmed, ordered by name) and the
/// signed-headers list (`name;name`). A name given twice is refused: which value counts would be
/// a guess.
fn canonical_headers(headers: &[(String, String)]) -> Result<(String, String), SigningError> {
    let mut lines: Vec<(String, &str)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if [name, value].iter().any(|s| s.contains(['\r', '\n'])) {
            return Err(SigningError::LineBreak(name.clone()));
        }
        let name = name.trim().to_ascii_lowercase();
        if lines.iter().any(|(seen, _)| *seen == name) {
            return Err(SigningError::Duplicate(name));
        }
        lines.push((name, value.trim()));
    }
    lines.sort();
    let canonical = lines.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed = lines
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    Ok((canonical, signed))
}

/// The caller's headers and the signer's own, owned, for [`canonical_headers`].
fn with_headers(request: &Request<'_>, own: &[(&str, &str)]) -> Vec<(String, String)> {
    own.iter()
        .chain(request.headers)
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// `time` in UTC, within the years a signature's date formats can carry.
fn utc(time: OffsetDateTime) -> Result<OffsetDateTime, SigningError> {
    time.checked_to_offset(UtcOffset::UTC)
        .filter(|t| (1970..=9999).contains(&t.year()))
        .ok_or(SigningError::Time)
}

/// `time` as ISO 8601's basic format in UTC, `20191115T033655Z` (Huawei's X-Sdk-Date, Volcengine's
/// X-Date).
fn basic_timestamp(time: OffsetDateTime) -> Result<String, SigningError> {
    utc(time)?
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|_| SigningError::Time)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Result<Vec<u8>, SigningError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| SigningError::Key)?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn hmac_sha1(key: &[u8], message: &[u8]) -> Result<Vec<u8>, SigningError> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).map_err(|_| SigningError::Key)?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}
