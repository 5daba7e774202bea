//! The blobs port (large files: raw uploads, previews, results) and its S3 adapter.

use crate::error::StoreError;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::time::Duration;

const SERVICE: &str = "S3";

/// A URL a browser or `curl` can PUT one file to, with the headers it must send.
#[derive(Debug, Clone, PartialEq)]
pub struct PresignedUpload {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

#[async_trait]
pub trait Blobs: Send + Sync {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError>;
    /// The object's bytes, or `None` when there is no such object.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes the object; removing a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// A URL that lets its holder PUT exactly one object at `key`, with this content type,
    /// until `expires_in` has passed.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<PresignedUpload, StoreError>;
    /// A URL that lets its holder download the object until `expires_in` has passed, saved under
    /// `download_name`.
    async fn presign_get(&self, key: &str, download_name: &str, expires_in: Duration) -> Result<String, StoreError>;
}

#[derive(Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Blobs {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let result = self.client.get_object().bucket(&self.bucket).key(key).send().await;
        let output = match result {
            Ok(output) => output,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(error) => return Err(StoreError::from_sdk(SERVICE, error)),
        };
        let bytes = output.body.collect().await.map_err(|e| StoreError::Service {
            service: SERVICE,
            message: format!("reading the object body failed: {e}"),
            retryable: true,
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<PresignedUpload, StoreError> {
        let config =
            PresigningConfig::expires_in(expires_in).map_err(|e| StoreError::Limit { limit: e.to_string() })?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
        Ok(PresignedUpload {
            url: request.uri().to_owned(),
            headers: request.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        })
    }

    async fn presign_get(&self, key: &str, download_name: &str, expires_in: Duration) -> Result<String, StoreError> {
        let config =
            PresigningConfig::expires_in(expires_in).map_err(|e| StoreError::Limit { limit: e.to_string() })?;
        let safe_name: String = download_name.chars().filter(|c| !c.is_control() && *c != '"').collect();
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!("attachment; filename=\"{safe_name}\""))
            .presigned(config)
            .await
            .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
        Ok(request.uri().to_owned())
    }
}
