//! Task logs in S3. S3 has no append: each append writes one object under the task's prefix,
//! named by its entry (so keys sort in log order) and its lines' hash (so an append repeated
//! writes the same object), and a read joins them.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use crate::ports::logs::{LogError, TaskLogSink};

pub struct S3TaskLogs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3TaskLogs {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    fn task_prefix(execution_id: i64, task_id: i64) -> String {
        format!("tasks/{execution_id}/{task_id}/")
    }

    fn error(key: &str, operation: &'static str, e: impl std::error::Error) -> LogError {
        LogError::Backend {
            key: key.to_string(),
            operation,
            message: super::describe(&e),
        }
    }

    async fn keys_under(&self, prefix: &str) -> Result<Vec<String>, LogError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Self::error(prefix, "ListObjectsV2", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        keys.sort();
        Ok(keys)
    }
}

#[async_trait]
impl TaskLogSink for S3TaskLogs {
    async fn append(
        &self,
        execution_id: i64,
        task_id: i64,
        entry: &str,
        lines: &[String],
    ) -> Result<(), LogError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut body = lines.join("\n");
        body.push('\n');
        // The entry first so that keys sort in log order; then the lines' hash, so the same
        // lines appended again write the same object, and other lines under the same entry
        // do not overwrite them.
        use sha2::Digest as _;
        let hash = hex::encode(&sha2::Sha256::digest(body.as_bytes())[..8]);
        let key = format!("{}{entry}-{hash}", Self::task_prefix(execution_id, task_id));
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("text/plain; charset=utf-8")
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .map_err(|e| Self::error(&key, "PutObject", e))?;
        Ok(())
    }

    async fn read(&self, execution_id: i64, task_id: i64) -> Result<String, LogError> {
        let mut out = String::new();
        for key in self
            .keys_under(&Self::task_prefix(execution_id, task_id))
            .await?
        {
            let object = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| Self::error(&key, "GetObject", e))?;
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|e| Self::error(&key, "GetObject", e))?
                .into_bytes();
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
        Ok(out)
    }

    async fn delete_execution(&self, execution_id: i64) -> Result<(), LogError> {
        let prefix = format!("tasks/{execution_id}/");
        for key in self.keys_under(&prefix).await? {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| Self::error(&key, "DeleteObject", e))?;
        }
        Ok(())
    }
}
