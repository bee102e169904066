//! Registry secrets are encrypted before they are stored (KMS in production and locally).

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("encrypting the secret of registry {registry_id} failed: {message}")]
    Encrypt { registry_id: i64, message: String },
    #[error("decrypting the secret of registry {registry_id} failed: {message}")]
    Decrypt { registry_id: i64, message: String },
}

#[async_trait]
pub trait SecretCipher: Send + Sync {
    /// Encrypts `plaintext` bound to `registry_id`, so a ciphertext cannot be moved to another
    /// registry's record.
    async fn encrypt(&self, registry_id: i64, plaintext: &str) -> Result<Vec<u8>, SecretError>;
    async fn decrypt(&self, registry_id: i64, ciphertext: &[u8]) -> Result<String, SecretError>;
}
