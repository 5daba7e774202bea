//! The secrets port (vendor credentials) and its Secrets Manager adapter. Values are never
//! logged, never put in errors, and cached in the function only for a few minutes so a rotated
//! credential is picked up soon.

use crate::error::StoreError;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SERVICE: &str = "Secrets Manager";

#[async_trait]
pub trait Secrets: Send + Sync {
    /// Creates the secret or replaces its value.
    async fn put(&self, name: &str, value: &str) -> Result<(), StoreError>;
    async fn get(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Deletes the secret at once (no recovery window); deleting a missing secret is fine.
    async fn delete(&self, name: &str) -> Result<(), StoreError>;
}

#[derive(Clone)]
pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    pub fn new(client: Client) -> Self {
        SecretsManager { client }
    }
}

#[async_trait]
impl Secrets for SecretsManager {
    async fn put(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let created = self.client.create_secret().name(name).secret_string(value).send().await;
        match created {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                self.client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(|e| StoreError::from_sdk(SERVICE, e))?;
                Ok(())
            }
            Err(error) => Err(StoreError::from_sdk(SERVICE, error)),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(output) => Ok(output.secret_string),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(StoreError::from_sdk(SERVICE, error)),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(StoreError::from_sdk(SERVICE, error)),
        }
    }
}

/// Keeps secrets read through it for `ttl`, so a warm function does not call Secrets Manager
/// on every request. Writes through it refresh the cached value.
pub struct CachedSecrets<S> {
    inner: S,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

impl<S: Secrets> CachedSecrets<S> {
    pub fn new(inner: S, ttl: Duration) -> Self {
        CachedSecrets {
            inner,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, name: &str) -> Option<Option<String>> {
        let cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(name)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    fn remember(&self, name: &str, value: Option<String>) {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.insert(name.to_owned(), (Instant::now(), value));
    }
}

#[async_trait]
impl<S: Secrets> Secrets for CachedSecrets<S> {
    async fn put(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.inner.put(name, value).await?;
        self.remember(name, Some(value.to_owned()));
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<String>, StoreError> {
        if let Some(value) = self.cached(name) {
            return Ok(value);
        }
        let value = self.inner.get(name).await?;
        self.remember(name, value.clone());
        Ok(value)
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.inner.delete(name).await?;
        self.remember(name, None);
        Ok(())
    }
}
