//! The evidence document store: documents kept by the SHA-256 of their bytes, in a local
//! directory or an S3-compatible bucket (`object_store`), never in the database. A
//! document's name in the store is its hash (`sha256/<first two hex digits>/<hex>`), so
//! storing the same bytes twice keeps one copy, and what is read back is checked against
//! the name it was read by: a document changed in the store is refused, never served.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

use crate::config::DocumentStoreConfig;

/// A document's SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentHash(pub [u8; 32]);

impl DocumentHash {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// 64 lowercase hexadecimal digits, as the ledger records it.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    fn location(&self) -> StorePath {
        let hex = self.hex();
        let fan = hex.get(..2).unwrap_or_default().to_owned();
        StorePath::from_iter(["sha256".to_owned(), fan, hex])
    }
}

impl std::fmt::Display for DocumentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DocStoreError {
    #[error("document {0} is not in the document store")]
    NotFound(DocumentHash),
    #[error("the document store holds other bytes under {0} (SHA-256 {1})")]
    Corrupt(DocumentHash, DocumentHash),
    #[error("document store: {0}")]
    Store(#[from] object_store::Error),
    #[error("document store: {0}")]
    Setup(String),
}

/// The configured store; cheap to clone.
#[derive(Clone)]
pub struct DocumentStore {
    inner: Arc<dyn ObjectStore>,
    /// Where it is, for logs and errors (`dir:/path` or `s3://bucket`).
    pub describe: String,
}

impl std::fmt::Debug for DocumentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentStore")
            .field("describe", &self.describe)
            .finish()
    }
}

impl DocumentStore {
    /// Opens the store `config` names (a directory is created when missing).
    pub fn open(config: &DocumentStoreConfig) -> Result<Self, DocStoreError> {
        match config {
            DocumentStoreConfig::Directory(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    DocStoreError::Setup(format!("creating {}: {e}", dir.display()))
                })?;
                let fs = LocalFileSystem::new_with_prefix(dir)?;
                Ok(Self {
                    inner: Arc::new(fs),
                    describe: format!("dir:{}", dir.display()),
                })
            }
            DocumentStoreConfig::S3 {
                bucket,
                endpoint,
                region,
                credentials,
            } => {
                // Credentials as configured, else from the environment
                // (AWS_ACCESS_KEY_ID, ...); everything else written out here.
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region);
                if let Some((id, secret)) = credentials {
                    builder = builder
                        .with_access_key_id(id)
                        .with_secret_access_key(secret);
                }
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        // Path-style URLs: what S3-compatible servers answer.
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                Ok(Self {
                    inner: Arc::new(builder.build()?),
                    describe: format!("s3://{bucket}"),
                })
            }
        }
    }

    /// Stores `bytes` under their hash, unless a document of that hash is already there.
    pub async fn put(&self, bytes: Bytes) -> Result<DocumentHash, DocStoreError> {
        let hash = DocumentHash::of(&bytes);
        let location = hash.location();
        match self.inner.head(&location).await {
            Ok(meta) if u64::try_from(bytes.len()).is_ok_and(|n| n == meta.size) => {
                return Ok(hash)
            }
            // Missing, or (only after tampering) of another size: write the true bytes.
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.inner
            .put(&location, PutPayload::from_bytes(bytes))
            .await?;
        Ok(hash)
    }

    /// The document of `hash`, checked to hash to it.
    pub async fn get(&self, hash: &DocumentHash) -> Result<Bytes, DocStoreError> {
        let bytes = match self.inner.get(&hash.location()).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(DocStoreError::NotFound(*hash))
            }
            Err(e) => return Err(e.into()),
        };
        let actual = DocumentHash::of(&bytes);
        if actual != *hash {
            return Err(DocStoreError::Corrupt(*hash, actual));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_parse_only_as_lowercase_hex() {
        let h = DocumentHash::of(b"abc");
        assert_eq!(
            h.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(DocumentHash::parse(&h.hex()), Some(h));
        assert_eq!(DocumentHash::parse(&h.hex().to_uppercase()), None);
        assert_eq!(DocumentHash::parse(&h.hex()[..63]), None);
        assert_eq!(DocumentHash::parse(&format!("{}0", h.hex())), None);
        assert_eq!(DocumentHash::parse(&"g".repeat(64)), None);
    }

    #[actix_rt::test]
    async fn a_directory_store_keeps_one_copy_and_refuses_changed_bytes() {
        let dir = std::env::temp_dir().join(format!("ft-docstore-{}", uuid::Uuid::new_v4()));
        let store = DocumentStore::open(&DocumentStoreConfig::Directory(dir.clone())).unwrap();
        let bytes = Bytes::from_static(b"%PDF-1.4 an invoice");
        let h = store.put(bytes.clone()).await.unwrap();
        assert_eq!(store.put(bytes.clone()).await.unwrap(), h);
        assert_eq!(store.get(&h).await.unwrap(), bytes);
        let path = dir.join("sha256").join(&h.hex()[..2]).join(h.hex());
        std::fs::write(&path, b"%PDF-1.4 an invoicf").unwrap();
        assert!(matches!(
            store.get(&h).await,
            Err(DocStoreError::Corrupt(..))
        ));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            store.get(&h).await,
            Err(DocStoreError::NotFound(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
