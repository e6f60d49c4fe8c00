//! Records as JSON in the store, and `Tx`: a `WriteBatch` built from typed records.
//!
//! Every read returns the record with the version it was read at, so the write can require
//! that version (compare-and-set). This module knows key shapes only through its callers.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::DirectoryError;
use crate::store::{KvStore, Scope, WriteBatch, scan_all};

/// A record and the version it was read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rec<T> {
    pub(crate) value: T,
    pub(crate) version: u64,
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, DirectoryError> {
    serde_json::from_slice(bytes).map_err(|e| DirectoryError::CorruptRecord {
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, DirectoryError> {
    serde_json::to_vec(value).map_err(|e| DirectoryError::CorruptRecord {
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

/// Reads and decodes one record.
pub(crate) async fn read<T: DeserializeOwned>(
    store: &dyn KvStore,
    scope: &Scope,
    key: &str,
) -> Result<Option<Rec<T>>, DirectoryError> {
    match store.get(scope, key).await? {
        Some(v) => Ok(Some(Rec {
            value: decode(key, &v.value)?,
            version: v.version,
        })),
        None => Ok(None),
    }
}

/// Reads a record that must exist (`UnknownId` of `kind`/`id` otherwise).
pub(crate) async fn read_known<T: DeserializeOwned>(
    store: &dyn KvStore,
    scope: &Scope,
    key: &str,
    kind: &'static str,
    id: impl std::fmt::Display,
) -> Result<Rec<T>, DirectoryError> {
    read(store, scope, key)
        .await?
        .ok_or_else(|| DirectoryError::unknown(kind, id))
}

/// Most records of one kind a tenant may hold in a listing (bounds memory).
pub(crate) const MAX_LIST: usize = 100_000;

/// Reads and decodes every record under `prefix`.
pub(crate) async fn read_all<T: DeserializeOwned>(
    store: &dyn KvStore,
    scope: &Scope,
    prefix: &str,
) -> Result<Vec<(String, Rec<T>)>, DirectoryError> {
    scan_all(store, scope, prefix, MAX_LIST)
        .await?
        .into_iter()
        .map(|(k, v)| {
            let value = decode(&k, &v.value)?;
            Ok((
                k,
                Rec {
                    value,
                    version: v.version,
                },
            ))
        })
        .collect()
}

/// Turns a conflict on the name-uniqueness index (`name/...`) into `DuplicateName` of `kind`;
/// other errors pass through. For `map_err` on the commit of a named object.
pub(crate) fn duplicate_name(
    kind: &'static str,
    name: &str,
) -> impl FnOnce(DirectoryError) -> DirectoryError {
    let name = name.to_owned();
    move |e| match e {
        DirectoryError::Conflict { ref key, .. } if key.starts_with("name/") => {
            DirectoryError::DuplicateName { kind, name }
        }
        e => e,
    }
}

/// A batch under construction, with typed helpers. Commit with [`Tx::commit`].
#[derive(Debug)]
pub(crate) struct Tx {
    batch: WriteBatch,
}

impl Tx {
    /// An empty transaction on `scope`.
    pub(crate) fn new(scope: Scope) -> Self {
        Self {
            batch: WriteBatch::new(scope),
        }
    }

    /// Requires `key` at `version` (`None`: absent).
    pub(crate) fn expect(&mut self, key: &str, version: Option<u64>) -> &mut Self {
        self.batch.expect(key, version);
        self
    }

    /// Writes `value` under `key` (no precondition).
    pub(crate) fn put<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), DirectoryError> {
        self.batch.put(key, encode(key, value)?);
        Ok(())
    }

    /// Writes a new record: `key` must be absent.
    pub(crate) fn create<T: Serialize>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<(), DirectoryError> {
        self.batch.expect_absent(key);
        self.put(key, value)
    }

    /// Replaces a record read at `version`.
    pub(crate) fn update<T: Serialize>(
        &mut self,
        key: &str,
        version: u64,
        value: &T,
    ) -> Result<(), DirectoryError> {
        self.batch.expect_version(key, version);
        self.put(key, value)
    }

    /// Deletes a record read at `version`.
    pub(crate) fn remove(&mut self, key: &str, version: u64) {
        self.batch.expect_version(key, version).delete(key);
    }

    /// Deletes `key` whatever it holds.
    pub(crate) fn delete(&mut self, key: &str) {
        self.batch.delete(key);
    }

    /// Commits atomically; returns the new scope version.
    pub(crate) async fn commit(self, store: &dyn KvStore) -> Result<u64, DirectoryError> {
        store.commit(self.batch).await
    }
}
