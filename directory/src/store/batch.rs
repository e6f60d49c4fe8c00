//! `WriteBatch`: the puts, deletes and preconditions one atomic commit applies to one scope.
//!
//! A batch only describes the change; the backend checks limits and applies it. Later ops on a
//! key win over earlier ones in the same batch (they are applied in order).

use super::{MAX_BATCH_OPS, MAX_VALUE_LEN, Scope, validate_key};
use crate::error::DirectoryError;

/// A precondition of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// The key exists with exactly this version.
    Version {
        /// The key.
        key: String,
        /// Its expected version.
        version: u64,
    },
    /// The key does not exist.
    Absent {
        /// The key.
        key: String,
    },
}

impl Check {
    /// The key this check is about.
    pub fn key(&self) -> &str {
        match self {
            Self::Version { key, .. } | Self::Absent { key } => key,
        }
    }

    /// The expected version, `None` for "absent".
    pub fn expected(&self) -> Option<u64> {
        match self {
            Self::Version { version, .. } => Some(*version),
            Self::Absent { .. } => None,
        }
    }
}

/// A write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store `value` under `key`.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove `key` (no error if absent).
    Delete {
        /// The key.
        key: String,
    },
}

impl Op {
    /// The key this op writes.
    pub fn key(&self) -> &str {
        match self {
            Self::Put { key, .. } | Self::Delete { key } => key,
        }
    }
}

/// An all-or-nothing change to one scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteBatch {
    scope: Scope,
    checks: Vec<Check>,
    ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch for `scope`.
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            checks: Vec::new(),
            ops: Vec::new(),
        }
    }

    /// Requires `key` to be at `version` (`None`: absent) when the batch applies.
    pub fn expect(&mut self, key: impl Into<String>, version: Option<u64>) -> &mut Self {
        let key = key.into();
        self.checks.push(match version {
            Some(version) => Check::Version { key, version },
            None => Check::Absent { key },
        });
        self
    }

    /// Requires `key` to be absent.
    pub fn expect_absent(&mut self, key: impl Into<String>) -> &mut Self {
        self.expect(key, None)
    }

    /// Requires `key` to be at `version`.
    pub fn expect_version(&mut self, key: impl Into<String>, version: u64) -> &mut Self {
        self.expect(key, Some(version))
    }

    /// Stores `value` under `key`.
    pub fn put(&mut self, key: impl Into<String>, value: Vec<u8>) -> &mut Self {
        self.ops.push(Op::Put {
            key: key.into(),
            value,
        });
        self
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: impl Into<String>) -> &mut Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }

    /// The scope written.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The preconditions, in the order given.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The writes, in the order given.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// True when the batch writes nothing (it still bumps the scope version if committed).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Checks keys, sizes and the op count; backends call this before touching storage.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let count = self.checks.len() + self.ops.len();
        if count > MAX_BATCH_OPS {
            return Err(DirectoryError::StoreLimit(format!(
                "batch of {count} operations (max {MAX_BATCH_OPS})"
            )));
        }
        for check in &self.checks {
            validate_key(check.key())?;
        }
        for op in &self.ops {
            validate_key(op.key())?;
            if let Op::Put { value, .. } = op
                && value.len() > MAX_VALUE_LEN
            {
                return Err(DirectoryError::StoreLimit(format!(
                    "value of {} bytes (max {MAX_VALUE_LEN})",
                    value.len()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_keeps_order_and_validates() {
        let mut b = WriteBatch::new(Scope::tenant("t1").unwrap());
        b.expect_absent("a")
            .expect_version("b", 3)
            .put("a", vec![1])
            .delete("b");
        assert_eq!(b.checks()[1].expected(), Some(3));
        assert_eq!(b.checks()[0].expected(), None);
        assert_eq!(b.ops()[0].key(), "a");
        assert!(b.validate().is_ok());
        b.put("", vec![]);
        assert!(b.validate().is_err());
    }

    #[test]
    fn oversized_batches_are_refused() {
        let mut b = WriteBatch::new(Scope::global());
        for i in 0..=MAX_BATCH_OPS {
            b.delete(format!("k{i}"));
        }
        assert!(matches!(b.validate(), Err(DirectoryError::StoreLimit(_))));
    }
}
