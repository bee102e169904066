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

#[async_trait]
impl SecretCipher for KmsSecretCipher {
    async fn encrypt(&self, registry_id: i64, plaintext: &str) -> Result<Vec<u8>, SecretError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext.as_bytes()))
            .encryption_context(CONTEXT_KEY, registry_id.to_string())
            .send()
            .await
            .map_err(|e| SecretError::Encrypt {
                registry_id,
                message: super::describe(&e),
            })?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| SecretError::Encrypt {
                registry_id,
                message: "KMS returned no ciphertext".into(),
            })
    }

    async fn decrypt(&self, registry_id: i64, ciphertext: &[u8]) -> Result<String, SecretError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context(CONTEXT_KEY, registry_id.to_string())
            .send()
            .await
            .map_err(|e| SecretError::Decrypt {
                registry_id,
                message: super::describe(&e),
            })?;
        let plaintext = out.plaintext.ok_or_else(|| SecretError::Decrypt {
            registry_id,
            message: "KMS returned no plaintext".into(),
        })?;
        String::from_utf8(plaintext.into_inner()).map_err(|_| SecretError::Decrypt {
            registry_id,
            message: "the secret is not UTF-8".into(),
        })
    }
}
