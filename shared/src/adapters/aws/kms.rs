//! Registry secrets encrypted with KMS: one `Encrypt` call per secret, the ciphertext stored in
//! the registry's own item. Why KMS and not Secrets Manager: the secret and its registry are
//! written in one conditional DynamoDB write, so no secret is ever left behind without its
//! registry (or the reverse), and there is no per-secret resource to create, pay for or clean up.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;

use crate::ports::secrets::{SecretCipher, SecretError};

const CONTEXT_KEY: &str = "ferry:registry-id";

pub struct KmsSecretCipher {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSecretCipher {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

/// Whose secret a ciphertext is: the encryption context binds it to its owner.
#[derive(Clone, Copy)]
enum Owner {
    Registry(i64),
    WebhookPolicy(i64),
}

impl Owner {
    fn context(self) -> (&'static str, String) {
        match self {
            Self::Registry(id) => (CONTEXT_KEY, id.to_string()),
            Self::WebhookPolicy(id) => (WEBHOOK_CONTEXT_KEY, id.to_string()),
        }
    }

    fn encrypt_error(self, message: String) -> SecretError {
        match self {
            Self::Registry(registry_id) => SecretError::Encrypt {
                registry_id,
                message,
            },
            Self::WebhookPolicy(policy_id) => SecretError::WebhookHeader { policy_id, message },
        }
    }

    fn decrypt_error(self, message: String) -> SecretError {
        match self {
            Self::Registry(registry_id) => SecretError::Decrypt {
                registry_id,
                message,
            },
            Self::WebhookPolicy(policy_id) => SecretError::WebhookHeader { policy_id, message },
        }
    }
}

const WEBHOOK_CONTEXT_KEY: &str = "ferry:webhook-policy-id";

impl KmsSecretCipher {
    async fn seal(&self, owner: Owner, plaintext: &str) -> Result<Vec<u8>, SecretError> {
        let (key, value) = owner.context();
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext.as_bytes()))
            .encryption_context(key, value)
            .send()
            .await
            .map_err(|e| owner.encrypt_error(super::describe(&e)))?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| owner.encrypt_error("KMS returned no ciphertext".into()))
    }

    async fn open(&self, owner: Owner, ciphertext: &[u8]) -> Result<String, SecretError> {
        let (key, value) = owner.context();
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context(key, value)
            .send()
            .await
            .map_err(|e| owner.decrypt_error(super::describe(&e)))?;
        let plaintext = out
            .plaintext
            .ok_or_else(|| owner.decrypt_error("KMS returned no plaintext".into()))?;
        String::from_utf8(plaintext.into_inner())
            .map_err(|_| owner.decrypt_error("the secret is not UTF-8".into()))
    }
}

#[async_trait]
impl SecretCipher for KmsSecretCipher {
    async fn encrypt(&self, registry_id: i64, plaintext: &str) -> Result<Vec<u8>, SecretError> {
        self.seal(Owner::Registry(registry_id), plaintext).await
    }

    async fn decrypt(&self, registry_id: i64, ciphertext: &[u8]) -> Result<String, SecretError> {
        self.open(Owner::Registry(registry_id), ciphertext).await
    }

    async fn encrypt_webhook_header(
        &self,
        policy_id: i64,
        plaintext: &str,
    ) -> Result<Vec<u8>, SecretError> {
        self.seal(Owner::WebhookPolicy(policy_id), plaintext).await
    }

    async fn decrypt_webhook_header(
        &self,
        policy_id: i64,
        ciphertext: &[u8],
    ) -> Result<String, SecretError> {
        self.open(Owner::WebhookPolicy(policy_id), ciphertext).await
    }
}
