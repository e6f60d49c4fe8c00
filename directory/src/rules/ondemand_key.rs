//! OnDemand session keys (002/004 §6.2): 9 random digits, valid 24 h from creation, one
//! connection, 1 h at most in the queue, a rejected session is dead.
//!
//! Pure transitions of `OnDemandSession`; the caller persists and times out.

use crate::error::{DirectoryError, OnDemandRefusal};
use crate::model::{
    Membership, OnDemandId, OnDemandSession, OnDemandState, Permission, TenantId, UserId,
};
use crate::rules::access::Access;
use crate::rules::random;
use jiff::{SignedDuration, Timestamp};

/// Digits in a key (004 example `901219828`).
pub const ONDEMAND_KEY_DIGITS: usize = 9;
/// "An OnDemand session key is valid 24h since it was created."
pub const ONDEMAND_KEY_LIFETIME: SignedDuration = SignedDuration::from_hours(24);
/// "The OnDemand Sessions stay in the queue for 1h before being automatically disconnected."
pub const ONDEMAND_QUEUE_LIMIT: SignedDuration = SignedDuration::from_hours(1);

/// A new OnDemand session created by `creator` with a fresh key.
pub fn new_session(
    tenant: TenantId,
    creator: UserId,
    now: Timestamp,
) -> Result<OnDemandSession, DirectoryError> {
    Ok(OnDemandSession {
        id: OnDemandId::new_random(),
        tenant,
        key: generate_key()?,
        created_by: creator,
        created_at: now,
        expires_at: now
            .saturating_add(ONDEMAND_KEY_LIFETIME)
            .unwrap_or(Timestamp::MAX),
        state: OnDemandState::Created,
    })
}

/// 9 uniformly random digits (leading zeros allowed).
pub fn generate_key() -> Result<String, DirectoryError> {
    random::string_from(b"0123456789", ONDEMAND_KEY_DIGITS)
}

/// Whether `s` has the shape of a key (9 ASCII digits), before any lookup.
pub fn is_key_shaped(s: &str) -> bool {
    s.len() == ONDEMAND_KEY_DIGITS && s.bytes().all(|b| b.is_ascii_digit())
}

fn refuse<T>(r: OnDemandRefusal) -> Result<T, DirectoryError> {
    Err(DirectoryError::OnDemandRefused(r))
}

fn check_usable(s: &OnDemandSession, now: Timestamp) -> Result<(), DirectoryError> {
    match s.state {
        OnDemandState::Rejected => return refuse(OnDemandRefusal::Rejected),
        OnDemandState::Connected { .. } | OnDemandState::Finished => {
            return refuse(OnDemandRefusal::AlreadyUsed);
        }
        _ => {}
    }
    if now >= s.expires_at {
        return refuse(OnDemandRefusal::Expired);
    }
    Ok(())
}

/// The end user's agent joins with the key: it waits in the queue from `now`. A second join
/// while waiting (agent restart) keeps the original queue time.
pub fn join(s: &mut OnDemandSession, now: Timestamp) -> Result<(), DirectoryError> {
    check_usable(s, now)?;
    if let OnDemandState::Waiting { since } = s.state {
        if queue_timed_out(since, now) {
            return refuse(OnDemandRefusal::QueueTimeout);
        }
        return Ok(());
    }
    s.state = OnDemandState::Waiting { since: now };
    Ok(())
}

/// Whether an agent waiting since `since` must be disconnected at `now`.
pub fn queue_timed_out(since: Timestamp, now: Timestamp) -> bool {
    now.duration_since(since) >= ONDEMAND_QUEUE_LIMIT
}

/// The technician starts the session: only from the queue, once.
pub fn start(s: &mut OnDemandSession, now: Timestamp) -> Result<(), DirectoryError> {
    check_usable(s, now)?;
    match s.state {
        OnDemandState::Waiting { since } if queue_timed_out(since, now) => {
            refuse(OnDemandRefusal::QueueTimeout)
        }
        OnDemandState::Waiting { .. } => {
            s.state = OnDemandState::Connected { since: now };
            Ok(())
        }
        _ => refuse(OnDemandRefusal::WrongState),
    }
}

/// The technician rejects a queued (or not yet joined) session: it can never be used again.
pub fn reject(s: &mut OnDemandSession) -> Result<(), DirectoryError> {
    match s.state {
        OnDemandState::Created | OnDemandState::Waiting { .. } => {
            s.state = OnDemandState::Rejected;
            Ok(())
        }
        _ => refuse(OnDemandRefusal::WrongState),
    }
}

/// The one connection ended: the key is gone ("deleted automatically after the connection is
/// closed"). The caller deletes the record; the state is kept for the audit trail.
pub fn finish(s: &mut OnDemandSession) {
    s.state = OnDemandState::Finished;
}

/// Whether the record can be purged at `now` (finished, rejected or expired).
pub fn is_dead(s: &OnDemandSession, now: Timestamp) -> bool {
    matches!(s.state, OnDemandState::Finished | OnDemandState::Rejected) || now >= s.expires_at
}

/// Whether `member`, with OnDemand access `access` (from `PolicySnapshot::evaluate_ondemand`),
/// may create or start OnDemand sessions: the per-member "OnDemand Sessions" flag and an
/// applicable OnDemand-type assignment are both needed (002/004 §6.2).
pub fn check_ondemand_user(member: &Membership, access: &Access) -> Result<(), DirectoryError> {
    if !member.state.is_active() {
        return Err(DirectoryError::NotAllowed("the user is not active"));
    }
    if !member.ondemand_enabled {
        return Err(DirectoryError::NotAllowed(
            "OnDemand sessions are disabled for this user",
        ));
    }
    if access.is_empty() {
        return Err(DirectoryError::NotAllowed(
            "no active OnDemand role assignment applies to this user",
        ));
    }
    Ok(())
}

/// Whether `viewer` sees `session` in the queue: with "All Invitations" every session of the
/// tenant, otherwise ("Own Invitations", or an OnDemand role naming neither) only the sessions
/// the viewer created. The narrower reading is the safe default (digest §13).
pub fn can_see_session(viewer: UserId, access: &Access, session: &OnDemandSession) -> bool {
    if access.is_empty() {
        return false;
    }
    access.allows(Permission::AllInvitations) || session.created_by == viewer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn session() -> OnDemandSession {
        new_session(
            TenantId::new_random(),
            UserId::new_random(),
            ts("2026-01-01T10:00Z"),
        )
        .unwrap()
    }

    fn reason(r: Result<(), DirectoryError>) -> OnDemandRefusal {
        match r {
            Err(DirectoryError::OnDemandRefused(x)) => x,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn key_is_nine_digits_and_lives_24h() {
        // 002/004: "a one-time session key" (004 example 901219828); "valid 24h since it was
        // created".
        let s = session();
        assert!(is_key_shaped(&s.key), "{}", s.key);
        assert!(!is_key_shaped("12345678"));
        assert!(!is_key_shaped("12345678a"));
        assert_eq!(s.expires_at, ts("2026-01-02T10:00Z"));
        let mut late = s.clone();
        assert_eq!(
            reason(join(&mut late, ts("2026-01-02T10:00Z"))),
            OnDemandRefusal::Expired
        );
        let mut ok = s.clone();
        join(&mut ok, ts("2026-01-02T09:59:59Z")).unwrap();
    }

    #[test]
    fn one_connection_then_gone() {
        // 002/004: "valid only for one remote connection ... deleted automatically after the
        // connection is closed".
        let mut s = session();
        assert_eq!(
            reason(start(&mut s, ts("2026-01-01T10:01Z"))),
            OnDemandRefusal::WrongState
        );
        join(&mut s, ts("2026-01-01T10:01Z")).unwrap();
        start(&mut s, ts("2026-01-01T10:05Z")).unwrap();
        assert_eq!(
            reason(join(&mut s, ts("2026-01-01T10:06Z"))),
            OnDemandRefusal::AlreadyUsed
        );
        assert_eq!(
            reason(start(&mut s, ts("2026-01-01T10:06Z"))),
            OnDemandRefusal::AlreadyUsed
        );
        finish(&mut s);
        assert_eq!(
            reason(join(&mut s, ts("2026-01-01T10:07Z"))),
            OnDemandRefusal::AlreadyUsed
        );
        assert!(is_dead(&s, ts("2026-01-01T10:07Z")));
    }

    #[test]
    fn queue_limit_is_one_hour() {
        // 002/004: "stay in the queue for 1h before being automatically disconnected".
        let mut s = session();
        join(&mut s, ts("2026-01-01T10:00Z")).unwrap();
        assert!(!queue_timed_out(
            ts("2026-01-01T10:00Z"),
            ts("2026-01-01T10:59:59Z")
        ));
        assert!(queue_timed_out(
            ts("2026-01-01T10:00Z"),
            ts("2026-01-01T11:00Z")
        ));
        join(&mut s, ts("2026-01-01T10:30Z")).unwrap();
        assert_eq!(
            s.state,
            OnDemandState::Waiting {
                since: ts("2026-01-01T10:00Z")
            }
        );
        assert_eq!(
            reason(start(&mut s, ts("2026-01-01T11:00Z"))),
            OnDemandRefusal::QueueTimeout
        );
    }

    #[test]
    fn who_creates_and_who_sees() {
        // 002/004: users need "the per-user OnDemand Sessions flag and an OnDemand-type role
        // assignment"; 003: "Own Invitations" / "All Invitations".
        use crate::model::{MembershipState, PermissionSet};
        let s = session();
        let mut m =
            crate::model::Membership::invited(s.tenant, UserId::new_random(), None, s.created_at);
        let own = Access {
            permissions: PermissionSet::from_slice(&[
                Permission::ViewScreen,
                Permission::OwnInvitations,
            ]),
            ..Access::default()
        };
        assert!(check_ondemand_user(&m, &own).is_err(), "invited");
        m.state = MembershipState::Active;
        check_ondemand_user(&m, &own).unwrap();
        assert!(check_ondemand_user(&m, &Access::default()).is_err());
        m.ondemand_enabled = false;
        assert!(check_ondemand_user(&m, &own).is_err());
        assert!(can_see_session(s.created_by, &own, &s));
        assert!(!can_see_session(m.user, &own, &s));
        let all = Access {
            permissions: PermissionSet::from_slice(&[Permission::AllInvitations]),
            ..Access::default()
        };
        assert!(can_see_session(m.user, &all, &s));
        assert!(!can_see_session(s.created_by, &Access::default(), &s));
    }

    #[test]
    fn rejected_sessions_are_dead() {
        // 002/004: rejecting "disables the OnDemand session. A new OnDemand session is
        // necessary".
        let mut s = session();
        join(&mut s, ts("2026-01-01T10:01Z")).unwrap();
        reject(&mut s).unwrap();
        assert_eq!(
            reason(join(&mut s, ts("2026-01-01T10:02Z"))),
            OnDemandRefusal::Rejected
        );
        assert_eq!(
            reason(start(&mut s, ts("2026-01-01T10:02Z"))),
            OnDemandRefusal::Rejected
        );
        assert!(reject(&mut s).is_err());
        assert!(is_dead(&s, ts("2026-01-01T10:02Z")));
    }
}
