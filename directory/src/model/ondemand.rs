//! OnDemand sessions (002/004 §6.2): a one-time 9-digit key, valid 24 h, one connection.
//!
//! Data only; generation and the join/start rules are in `rules::ondemand_key`.

use crate::model::ids::{OnDemandId, TenantId, UserId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where an OnDemand session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OnDemandState {
    /// Key created; no agent has joined yet.
    Created,
    /// An agent joined with the key and waits in the queue (at most 1 h).
    Waiting {
        /// When the agent joined.
        since: Timestamp,
    },
    /// The technician connected; the key cannot be used again.
    Connected {
        /// When the connection started.
        since: Timestamp,
    },
    /// The one connection ended; the key is gone.
    Finished,
    /// The technician rejected it; "A new OnDemand session is necessary".
    Rejected,
}

/// An OnDemand session and its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnDemandSession {
    /// Its id.
    pub id: OnDemandId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The 9-digit key (30 bits: kept as is for lookup; protected by rate limits and its
    /// 24 h life, not by hashing).
    pub key: String,
    /// The technician who created it.
    pub created_by: UserId,
    /// Creation instant.
    pub created_at: Timestamp,
    /// `created_at` + 24 h.
    pub expires_at: Timestamp,
    /// State.
    pub state: OnDemandState,
}
