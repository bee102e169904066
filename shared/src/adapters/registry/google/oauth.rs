//! OAuth access tokens from a service account key: a JWT assertion signed with the key (RS256)
//! exchanged at the key's `token_uri` (the JWT bearer grant:
//! https://developers.google.com/identity/protocols/oauth2/service-account#httprest).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::adapters::registry::auth::{Login, Minted};
use crate::adapters::registry::transport::{Call, Transport};
use crate::model::addresses::AddressPolicy;
use crate::model::Registry;
use crate::ports::registry::RegistryError;

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long before its expiry a token is replaced.
const MARGIN: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct ServiceAccountKey {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Mints and keeps one service account's access token.
pub struct GoogleOAuth {
    key: ServiceAccountKey,
    token_uri: url::Url,
    t: Transport,
    /// The kept token, when it expires, and when to replace it.
    token: Mutex<Option<(String, SystemTime, SystemTime)>>,
}

impl GoogleOAuth {
    /// The minter of `registry`'s key (its `_json_key` secret), posting to the key's token URI.
    pub fn new(
        registry: &Registry,
        addresses: AddressPolicy,
        retries: usize,
    ) -> Result<Arc<Self>, RegistryError> {
        let name = registry.host().unwrap_or_else(|| registry.url.clone());
        let invalid = |what: String| RegistryError::Invalid {
            registry: name.clone(),
            what,
        };
        let secret = registry
            .credential
            .as_ref()
            .and_then(|c| c.access_secret.as_deref())
            .ok_or_else(|| invalid("google-gcr needs the service account's JSON key".into()))?;
        let key: ServiceAccountKey = serde_json::from_str(secret)
            .map_err(|e| invalid(format!("the service account key: {e}")))?;
        let token_uri = url::Url::parse(key.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI))
            .map_err(|e| invalid(format!("the key's token_uri: {e}")))?;
        let origin = token_uri.origin().ascii_serialization();
        let t = Transport::api(registry, &origin, addresses)?.with_retries(retries);
        Ok(Arc::new(Self {
            key,
            token_uri,
            t,
            token: Mutex::new(None),
        }))
    }

    /// A token good for at least a while more: the kept one, or a new one.
    pub async fn token(&self) -> Result<(String, SystemTime), RegistryError> {
        let mut kept = self.token.lock().await;
        if let Some((token, expires, refresh)) = kept.as_ref() {
            if *refresh > SystemTime::now() {
                return Ok((token.clone(), *expires));
            }
        }
        let (token, life) = self.mint().await?;
        let now = SystemTime::now();
        let (expires, refresh) = (now + life, now + life - (life / 4).min(MARGIN));
        *kept = Some((token.clone(), expires, refresh));
        Ok((token, expires))
    }

    /// Forgets the kept token: it was refused.
    pub async fn forget(&self) {
        *self.token.lock().await = None;
    }

    /// A new token and how long it lives.
    async fn mint(&self) -> Result<(String, Duration), RegistryError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let aud = self.token_uri.as_str();
        let claims = Claims {
            iss: &self.key.client_email,
            scope: SCOPE,
            aud,
            iat: now,
            exp: now + 3600,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.key.private_key_id.clone();
        let signing = jsonwebtoken::EncodingKey::from_rsa_pem(self.key.private_key.as_bytes())
            .map_err(|e| {
                self.t
                    .invalid(format!("the service account's private key: {e}"))
            })?;
        let assertion = jsonwebtoken::encode(&header, &claims, &signing)
            .map_err(|e| self.t.invalid(format!("signing the OAuth assertion: {e}")))?;
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GRANT)
            .append_pair("assertion", &assertion)
            .finish();
        let path = self.token_uri.path().to_string();
        let call = Call::new(Method::POST, self.token_uri.clone(), &path, "")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Bytes::from(form));
        let answer: TokenAnswer = self
            .t
            .send(&call, |response| async {
                if !response.status().is_success() {
                    return Err(self.t.unexpected("POST", &path, response).await);
                }
                self.t
                    .read_json("POST", &path, response, 64 * 1024, "OAuth token answer")
                    .await
            })
            .await?;
        Ok((
            answer.access_token,
            Duration::from_secs(answer.expires_in.unwrap_or(3600)),
        ))
    }
}

/// The registry's Basic credential as `oauth2accesstoken` and a fresh access token.
pub struct GoogleLogin {
    pub(crate) oauth: Arc<GoogleOAuth>,
}

#[async_trait]
impl Login for GoogleLogin {
    async fn login(&self) -> Result<Minted, RegistryError> {
        // Asked again only when the last one is due or was refused: start afresh.
        self.oauth.forget().await;
        let (token, expires) = self.oauth.token().await?;
        Ok(Minted {
            user: "oauth2accesstoken".into(),
            password: token,
            expires_at: Some(expires),
        })
    }
}
