//! The registry's Basic credential from `GetAuthorizationToken`: base64 of `AWS:<password>`,
//! good for 12 hours (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAuthorizationToken.html).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use base64::Engine;

use super::EcrApi;
use crate::adapters::registry::auth::{Login, Minted};
use crate::ports::registry::RegistryError;

pub struct EcrLogin {
    pub(crate) api: Arc<EcrApi>,
}

#[async_trait]
impl Login for EcrLogin {
    async fn login(&self) -> Result<Minted, RegistryError> {
        let answer = self
            .api
            .client()
            .await
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| self.api.error("GetAuthorizationToken", e))?;
        let invalid = |what: &str| RegistryError::Invalid {
            registry: self.api.name.clone(),
            what: format!("GetAuthorizationToken: {what}"),
        };
        let data = answer
            .authorization_data()
            .first()
            .ok_or_else(|| invalid("no authorization data"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data.authorization_token().unwrap_or_default())
            .map_err(|_| invalid("the token is not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| invalid("the token is not text"))?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| invalid("the token is not user:password"))?;
        let expires_at = data
            .expires_at()
            .and_then(|at| SystemTime::try_from(*at).ok());
        Ok(Minted {
            user: user.to_string(),
            password: password.to_string(),
            expires_at,
        })
    }
}
