//! Task logs in S3. S3 has no append: each append writes one object under the task's prefix,
//! named by its entry (so keys sort in log order) and its lines' hash (so an append repeated
//! writes the same object), and a read joins them.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use crate::ports::logs::{LogError, LogTail, TaskLogSink};

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
        Ok(self
            .objects_under(prefix)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// Keys with their sizes, in key order.
    async fn objects_under(&self, prefix: &str) -> Result<Vec<(String, u64)>, LogError> {
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
            keys.extend(page.contents().iter().filter_map(|o| {
                let size = u64::try_from(o.size().unwrap_or_default()).unwrap_or_default();
                o.key().map(|k| (k.to_string(), size))
            }));
        }
        keys.sort();
        Ok(keys)
    }

    async fn get(&self, key: &str, range: Option<String>) -> Result<Vec<u8>, LogError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(range)
            .send()
            .await
            .map_err(|e| Self::error(key, "GetObject", e))?;
        Ok(object
            .body
            .collect()
            .await
            .map_err(|e| Self::error(key, "GetObject", e))?
            .into_bytes()
            .to_vec())
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
        let body = crate::ports::logs::entry_text(lines);
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
            out.push_str(&String::from_utf8_lossy(&self.get(&key, None).await?));
        }
        Ok(out)
    }

    /// Reads only the last objects, the first of them from an offset: a log of any size
    /// costs at most `max_bytes` of memory.
    async fn read_tail(
        &self,
        execution_id: i64,
        task_id: i64,
        max_bytes: usize,
    ) -> Result<LogTail, LogError> {
        let objects = self
            .objects_under(&Self::task_prefix(execution_id, task_id))
            .await?;
        let total: u64 = objects.iter().map(|(_, size)| size).sum();
        let mut wanted = Vec::new();
        let mut room = max_bytes as u64;
        for (key, size) in objects.iter().rev() {
            if room == 0 {
                break;
            }
            // The whole object, or its last `room` bytes.
            let range = (*size > room).then(|| format!("bytes=-{room}"));
            wanted.push((key, range));
            room = room.saturating_sub(*size);
        }
        // Each object holds whole lines: only a ranged read may start inside one.
        let mid_line = wanted.last().is_some_and(|(_, range)| range.is_some());
        let mut bytes = Vec::new();
        for (key, range) in wanted.into_iter().rev() {
            bytes.extend(self.get(key, range).await?);
        }
        Ok(LogTail::cut(bytes, total, mid_line))
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

/// A small text object (a configuration file), whole.
pub async fn read_text(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<String, String> {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            format!(
                "s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| format!("s3://{bucket}/{key}: {e}"))?
        .into_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|e| format!("s3://{bucket}/{key}: {e}"))
}
