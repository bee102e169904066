//! Azure Container Registry: `_catalog` and the distribution API behind ACR's token service.
//! An admin user or a service principal (app id and secret) is a Basic credential the token
//! service takes as is. An `oauth` credential is an Azure AD access token (and the tenant as
//! its access key): exchanged at `POST /oauth2/exchange` for an ACR refresh token, which the
//! token service takes as the password of the user `00000000-0000-0000-0000-000000000000`
//! (https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md).

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;

use super::auth::{Login, Minted};
use super::transport::{Call, Transport};
use crate::model::addresses::AddressPolicy;
use crate::model::Registry;
use crate::ports::registry::RegistryError;

/// The user ACR's token service knows a refresh token by.
const REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

pub struct AcrExchange {
    t: Transport,
    service: String,
    tenant: String,
    aad_token: String,
}

impl AcrExchange {
    pub fn new(
        registry: &Registry,
        addresses: AddressPolicy,
        retries: usize,
    ) -> Result<Self, RegistryError> {
        let credential = registry.credential.clone().unwrap_or_default();
        Ok(Self {
            t: Transport::api(registry, &registry.url, addresses)?.with_retries(retries),
            service: registry.host().unwrap_or_default(),
            tenant: credential.access_key,
            aad_token: credential.access_secret.unwrap_or_default(),
        })
    }
}

#[async_trait]
impl Login for AcrExchange {
    async fn login(&self) -> Result<Minted, RegistryError> {
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "access_token")
            .append_pair("service", &self.service)
            .append_pair("tenant", &self.tenant)
            .append_pair("access_token", &self.aad_token)
            .finish();
        let path = "/oauth2/exchange";
        let call = Call::new(Method::POST, self.t.url(path)?, path, "")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Bytes::from(form));
        let answer: serde_json::Value = self
            .t
            .send(&call, |response| async {
                if !response.status().is_success() {
                    return Err(self.t.unexpected("POST", path, response).await);
                }
                self.t
                    .read_json("POST", path, response, 64 * 1024, "token exchange answer")
                    .await
            })
            .await?;
        let refresh = answer["refresh_token"].as_str().ok_or_else(|| {
            self.t
                .invalid("ACR's token exchange answered without a refresh token".into())
        })?;
        Ok(Minted {
            user: REFRESH_TOKEN_USER.into(),
            password: refresh.to_string(),
            expires_at: None,
        })
    }
}
