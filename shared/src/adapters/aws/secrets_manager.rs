//! A plain-string secret from Secrets Manager: how the API gets its admin password in AWS.

/// The secret's string value (None when it holds binary only).
pub async fn read_secret_string(
    config: &aws_config::SdkConfig,
    arn: &str,
) -> Result<Option<String>, String> {
    let secret = aws_sdk_secretsmanager::Client::new(config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| super::describe(&e))?;
    Ok(secret.secret_string().map(str::to_string))
}
