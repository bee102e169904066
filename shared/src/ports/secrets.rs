//! Registry secrets and webhook auth headers are encrypted before they are stored (KMS in
//! production and locally).

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("encrypting the secret of registry {registry_id} failed: {message}")]
    Encrypt { registry_id: i64, message: String },
    #[error("decrypting the secret of registry {registry_id} failed: {message}")]
    Decrypt { registry_id: i64, message: String },
    #[error("sealing or opening the auth header of webhook policy {policy_id} failed: {message}")]
    WebhookHeader { policy_id: i64, message: String },
}

#[async_trait]
pub trait SecretCipher: Send + Sync {
    /// Encrypts `plaintext` bound to `registry_id`, so a ciphertext cannot be moved to another
    /// registry's record.
    async fn encrypt(&self, registry_id: i64, plaintext: &str) -> Result<Vec<u8>, SecretError>;
    async fn decrypt(&self, registry_id: i64, ciphertext: &[u8]) -> Result<String, SecretError>;
    /// Encrypts a webhook policy's auth header bound to `policy_id` (a context of its own, so
    /// a registry's ciphertext and a policy's cannot stand in for each other).
    async fn encrypt_webhook_header(
        &self,
        policy_id: i64,
        plaintext: &str,
    ) -> Result<Vec<u8>, SecretError>;
    async fn decrypt_webhook_header(
        &self,
        policy_id: i64,
        ciphertext: &[u8],
    ) -> Result<String, SecretError>;
}
