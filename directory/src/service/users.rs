//! Users: identities (global) and memberships (per tenant). Create (self-hosted, with a
//! password), invite, accept, disable (manual or plan limit) and enable, remove (from the
//! primary account: from every account), ownership transfer, type and MFA-flag changes, and the
//! user lookups.
//!
//! Passwords are checked against the policy and hashed with Argon2id in `spawn_blocking`.

use super::audit::append;
use super::codec::{Rec, Tx, read, read_all, read_known};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::{DirectoryError, QuotaKind};
use crate::model::{
    AuditKind, AuthMethod, Credentials, Device, DisabledReason, Membership, MembershipState,
    Tenant, TenantId, User, UserId, UserType,
};
use crate::rules::password;
use crate::rules::tenant::{check_invitation_acceptance, check_mfa_change, check_quota, usage};
use crate::rules::user_types;
use crate::store::Scope;
use jiff::Timestamp;

/// What a new identity needs.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    /// Login name: unique (case-insensitive), immutable.
    pub username: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email.
    pub email: String,
    /// Password for internal users created by hand; `None` for invitations and external
    /// methods.
    pub password: Option<String>,
    /// Authentication method.
    pub auth_method: AuthMethod,
}

/// A check of the tenant record an edit depends on (such as the MFA policy).
type TenantRule<'a> = &'a (dyn Fn(&Tenant) -> Result<(), DirectoryError> + Sync);

/// Hashes a password with Argon2id after checking the policy (in the blocking pool).
pub(crate) async fn hash_password(password: String) -> Result<String, DirectoryError> {
    password::check_password_policy(&password)?;
    tokio::task::spawn_blocking(move || password::hash_password(&password))
        .await
        .map_err(|e| DirectoryError::PasswordHash(e.to_string()))?
}

/// Builds an identity (hashing its password, if any).
pub(crate) async fn new_identity(
    id: UserId,
    primary: TenantId,
    new: &NewUser,
    now: Timestamp,
) -> Result<User, DirectoryError> {
    let username = new.username.trim();
    if username.is_empty() || username.len() > 200 || username.contains(char::is_whitespace) {
        return Err(DirectoryError::NotAllowed(
            "a username needs 1 to 200 characters and no spaces",
        ));
    }
    let password_hash = match &new.password {
        Some(p) if new.auth_method.has_local_password() => Some(hash_password(p.clone()).await?),
        Some(_) => return Err(DirectoryError::ExternalAuthentication),
        None => None,
    };
    Ok(User {
        id,
        username: username.to_owned(),
        first_name: new.first_name.clone(),
        last_name: new.last_name.clone(),
        email: new.email.clone(),
        auth_method: new.auth_method.clone(),
        credentials: Credentials {
            password_hash,
            ..Credentials::default()
        },
        primary_tenant: primary,
        created_at: now,
        modified_at: now,
    })
}

/// The membership of `actor` in the tenant (`None` for the system, which may do anything).
async fn actor_membership(
    d: &Directory,
    tenant: TenantId,
    actor: &Actor,
) -> Result<Option<Membership>, DirectoryError> {
    match actor.user_id() {
        Some(u) => d
            .membership(tenant, u)
            .await
            .map(Some)
            .map_err(|e| match e {
                DirectoryError::UnknownId { .. } => {
                    DirectoryError::NotAllowed("the acting user is not a member of this account")
                }
                e => e,
            }),
        None if actor.audit == crate::model::AuditActor::System => Ok(None),
        None => Err(DirectoryError::NotAllowed("only users manage users")),
    }
}

/// The acting member's record (with its version), or `NotAllowed` if they are not a member.
async fn actor_rec(
    d: &Directory,
    sc: &Scope,
    actor: UserId,
) -> Result<Rec<Membership>, DirectoryError> {
    read(&*d.store, sc, &keys::member(actor))
        .await?
        .ok_or(DirectoryError::NotAllowed(
            "the acting user is not a member of this account",
        ))
}

/// Best-effort removal of a just-created identity whose tenant write failed, so its username
/// is not left claimed by an identity without a membership.
pub(crate) async fn undo_identity(d: &Directory, user: &User, tenant: TenantId) {
    let mut g = Tx::new(Scope::global());
    g.delete(&keys::user(user.id));
    g.delete(&keys::username(&user.username));
    g.delete(&keys::user_membership(user.id, tenant));
    if let Err(e) = g.commit(&*d.store).await {
        tracing::warn!(user = %user.id, error = %e, "could not undo a half-created identity");
    }
}

impl Directory {
    /// Reads an identity.
    pub async fn user(&self, id: UserId) -> Result<User, DirectoryError> {
        Ok(read_known(
            &*self.store,
            &Scope::global(),
            &keys::user(id),
            UserId::KIND,
            id,
        )
        .await?
        .value)
    }

    /// Finds an identity by username (case-insensitive).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, DirectoryError> {
        let id: Option<Rec<UserId>> =
            read(&*self.store, &Scope::global(), &keys::username(username)).await?;
        match id {
            Some(id) => Ok(Some(self.user(id.value).await?)),
            None => Ok(None),
        }
    }

    /// Reads a membership.
    pub async fn membership(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Membership, DirectoryError> {
        self.get_record(tenant, user).await
    }

    /// Every membership of a tenant.
    pub async fn memberships(&self, tenant: TenantId) -> Result<Vec<Membership>, DirectoryError> {
        self.list_records(tenant).await
    }

    /// The tenants a user belongs to.
    pub async fn tenants_of(&self, user: UserId) -> Result<Vec<TenantId>, DirectoryError> {
        let all = read_all::<TenantId>(
            &*self.store,
            &Scope::global(),
            &keys::user_memberships_prefix(user),
        )
        .await?;
        Ok(all.into_iter().map(|(_, r)| r.value).collect())
    }

    async fn check_user_quota(
        &self,
        tenant: TenantId,
        t: &crate::model::Tenant,
    ) -> Result<(), DirectoryError> {
        let members = self.memberships(tenant).await?;
        let devices: Vec<Device> = Vec::new();
        check_quota(&t.quotas, &usage(&members, &devices), QuotaKind::Users, 1)
    }

    /// Creates an identity with a password and an active membership of `user_type`
    /// (003 self-hosted "manual creation with login + password").
    pub async fn create_user(
        &self,
        tenant: TenantId,
        actor: &Actor,
        new: NewUser,
        user_type: UserType,
    ) -> Result<User, DirectoryError> {
        let t = self.tenant_rec(tenant).await?;
        if let Some(a) = actor_membership(self, tenant, actor).await? {
            user_types::can_invite(&a, user_type)?;
        } else if user_type == UserType::AccountOwner {
            return Err(DirectoryError::NotAllowed(
                "an account has exactly one owner",
            ));
        }
        if new.password.is_none() && new.auth_method.has_local_password() {
            return Err(DirectoryError::NotAllowed(
                "a created internal user needs a password",
            ));
        }
        self.check_user_quota(tenant, &t.value).await?;
        let now = self.now();
        let id = UserId::new_random();
        let user = new_identity(id, tenant, &new, now).await?;
        let mut g = Tx::new(Scope::global());
        g.create(&keys::username(&user.username), &id)?;
        g.create(&keys::user(id), &user)?;
        g.put(&keys::user_membership(id, tenant), &tenant)?;
        g.commit(&*self.store).await.map_err(|e| match e {
            DirectoryError::Conflict { .. } => DirectoryError::DuplicateName {
                kind: "username",
                name: user.username.clone(),
            },
            e => e,
        })?;
        let mut m = Membership::invited(tenant, id, actor.user_id(), now);
        m.user_type = user_type;
        m.state = MembershipState::Active;
        let mut tx = Tx::new(scope(tenant)?);
        tx.expect(keys::TENANT, Some(t.version));
        tx.create(&keys::member(id), &m)?;
        append(
            &mut tx,
            &t.value,
            now,
            &actor.audit,
            AuditKind::User,
            format!("user {:?} created as {user_type:?}", user.username),
            None,
        )?;
        if let Err(e) = tx.commit(&*self.store).await {
            undo_identity(self, &user, tenant).await;
            return Err(e);
        }
        Ok(user)
    }

    /// Invites a user by username/email: a new identity (primary account = this tenant) or a
    /// secondary membership of an existing identity, with the invite defaults (type User,
    /// OnDemand on, MFA off). Needs a group manager or higher.
    pub async fn invite_user(
        &self,
        tenant: TenantId,
        actor: &Actor,
        new: NewUser,
    ) -> Result<User, DirectoryError> {
        let t = self.tenant_rec(tenant).await?;
        if let Some(a) = actor_membership(self, tenant, actor).await? {
            user_types::can_invite(&a, UserType::User)?;
        }
        let now = self.now();
        let user = match self.user_by_username(&new.username).await? {
            Some(existing) => {
                if read::<Membership>(&*self.store, &scope(tenant)?, &keys::member(existing.id))
                    .await?
                    .is_some()
                {
                    return Err(DirectoryError::DuplicateName {
                        kind: "member",
                        name: existing.username,
                    });
                }
                existing
            }
            None => {
                let mut invited = new.clone();
                invited.password = None;
                let user = new_identity(UserId::new_random(), tenant, &invited, now).await?;
                let mut g = Tx::new(Scope::global());
                g.create(&keys::username(&user.username), &user.id)?;
                g.create(&keys::user(user.id), &user)?;
                g.commit(&*self.store).await.map_err(|e| match e {
                    DirectoryError::Conflict { .. } => DirectoryError::DuplicateName {
                        kind: "username",
                        name: user.username.clone(),
                    },
                    e => e,
                })?;
                user
            }
        };
        self.store
            .put(
                &Scope::global(),
                &keys::user_membership(user.id, tenant),
                serde_json::to_vec(&tenant).map_err(|e| DirectoryError::CorruptRecord {
                    key: "umember".into(),
                    detail: e.to_string(),
                })?,
            )
            .await?;
        let m = Membership::invited(tenant, user.id, actor.user_id(), now);
        let mut tx = Tx::new(scope(tenant)?);
        tx.create(&keys::member(user.id), &m)?;
        append(
            &mut tx,
            &t.value,
            now,
            &actor.audit,
            AuditKind::User,
            format!("user {:?} invited", user.username),
            None,
        )?;
        tx.commit(&*self.store).await?;
        Ok(user)
    }

    /// Accepts an invitation within 7 days: sets the password (for a new internal identity) and
    /// activates the membership.
    pub async fn accept_invitation(
        &self,
        tenant: TenantId,
        user: UserId,
        password: Option<String>,
    ) -> Result<(), DirectoryError> {
        let now = self.now();
        let t = self.tenant_rec(tenant).await?;
        let sc = scope(tenant)?;
        let m: Rec<Membership> = self.read_record(&sc, user).await?;
        check_invitation_acceptance(m.value.state, now)?;
        self.check_user_quota(tenant, &t.value).await?;
        let u: Rec<User> = read_known(
            &*self.store,
            &Scope::global(),
            &keys::user(user),
            UserId::KIND,
            user,
        )
        .await?;
        if u.value.credentials.password_hash.is_none() && u.value.auth_method.has_local_password() {
            let Some(p) = password else {
                return Err(DirectoryError::NotAllowed(
                    "set a password to accept the invitation",
                ));
            };
            let hash = hash_password(p).await?;
            let mut u2 = u.value.clone();
            u2.credentials.password_hash = Some(hash);
            u2.modified_at = now;
            let mut g = Tx::new(Scope::global());
            g.update(&keys::user(user), u.version, &u2)?;
            g.commit(&*self.store).await?;
        }
        let mut m2 = m.value.clone();
        m2.state = MembershipState::Active;
        m2.modified_at = now;
        let mut tx = Tx::new(sc);
        tx.update(&keys::member(user), m.version, &m2)?;
        append(
            &mut tx,
            &t.value,
            now,
            &crate::model::AuditActor::User(user),
            AuditKind::User,
            format!("invitation of {:?} accepted", u.value.username),
            None,
        )?;
        tx.commit(&*self.store).await.map(|_| ())
    }

    /// Disables a member (`Some(reason)`: manual or plan limit) or re-enables one (`None`).
    /// Memberships and grants are kept.
    pub async fn set_member_disabled(
        &self,
        tenant: TenantId,
        actor: &Actor,
        user: UserId,
        reason: Option<DisabledReason>,
    ) -> Result<(), DirectoryError> {
        retry(|| async {
            let t = self.tenant_rec(tenant).await?;
            let sc = scope(tenant)?;
            let m: Rec<Membership> = self.read_record(&sc, user).await?;
            if let Some(a) = actor_membership(self, tenant, actor).await? {
                user_types::can_edit(&a, &m.value)?;
            }
            if m.value.user_type == UserType::AccountOwner && reason.is_some() {
                return Err(DirectoryError::NotAllowed(
                    "the account owner cannot be disabled",
                ));
            }
            if reason.is_none() && !m.value.state.is_active() {
                self.check_user_quota(tenant, &t.value).await?;
            }
            let mut m2 = m.value.clone();
            m2.state = match reason {
                Some(r) => MembershipState::Disabled(r),
                None => MembershipState::Active,
            };
            m2.modified_at = self.now();
            m2.modified_by = actor.user_id();
            let mut tx = Tx::new(sc);
            tx.expect(keys::TENANT, Some(t.version));
            tx.update(&keys::member(user), m.version, &m2)?;
            self.commit_audited(
                tx,
                &t.value,
                actor,
                AuditKind::User,
                format!(
                    "user {user} {}",
                    match reason {
                        Some(DisabledReason::Manual) => "disabled",
                        Some(DisabledReason::PlanLimit) => "disabled (plan limit)",
                        None => "enabled",
                    }
                ),
            )
            .await
            .map(|_| ())
        })
        .await
    }

    /// Removes a member. Removing a user from their primary account removes them from every
    /// account and deletes the identity (002/004 §2.1). Only types below the actor's can be
    /// removed; the owner never.
    pub async fn remove_user(
        &self,
        tenant: TenantId,
        actor: &Actor,
        user: UserId,
    ) -> Result<(), DirectoryError> {
        let m = self.membership(tenant, user).await?;
        if m.user_type == UserType::AccountOwner {
            return Err(DirectoryError::NotAllowed(
                "the account owner cannot be removed",
            ));
        }
        if let Some(a) = actor_membership(self, tenant, actor).await? {
            user_types::can_remove(&a, &m)?;
        }
        let identity = self.user(user).await?;
        let tenants = if identity.primary_tenant == tenant {
            self.tenants_of(user).await?
        } else {
            vec![tenant]
        };
        for t in &tenants {
            self.drop_membership(*t, actor, user, &identity.username)
                .await?;
        }
        let mut g = Tx::new(Scope::global());
        for t in &tenants {
            g.delete(&keys::user_membership(user, *t));
        }
        if identity.primary_tenant == tenant {
            g.delete(&keys::user(user));
            g.delete(&keys::username(&identity.username));
        }
        g.commit(&*self.store).await.map(|_| ())
    }

    async fn drop_membership(
        &self,
        tenant: TenantId,
        actor: &Actor,
        user: UserId,
        username: &str,
    ) -> Result<(), DirectoryError> {
        retry(|| async {
            let t = self.tenant_rec(tenant).await?;
            let sc = scope(tenant)?;
            let Some(m) = read::<Membership>(&*self.store, &sc, &keys::member(user)).await? else {
                return Ok(());
            };
            let mut tx = Tx::new(sc);
            tx.remove(&keys::member(user), m.version);
            tx.delete(&keys::favourites(user));
            self.commit_audited(
                tx,
                &t.value,
                actor,
                AuditKind::User,
                format!("user {username:?} removed"),
            )
            .await
            .map(|_| ())
        })
        .await
    }

    /// Transfers ownership: only the owner may; the new owner must be an active member; the
    /// previous owner becomes an Account administrator (004).
    pub async fn transfer_ownership(
        &self,
        tenant: TenantId,
        actor: &Actor,
        new_owner: UserId,
    ) -> Result<(), DirectoryError> {
        let Some(actor_id) = actor.user_id() else {
            return Err(DirectoryError::NotAllowed(
                "only the account owner transfers ownership",
            ));
        };
        retry(|| async {
            let t = self.tenant_rec(tenant).await?;
            let sc = scope(tenant)?;
            let old: Rec<Membership> = self.read_record(&sc, actor_id).await?;
            let new: Rec<Membership> = self.read_record(&sc, new_owner).await?;
            let change = user_types::transfer_ownership(&old.value, &new.value)?;
            let now = self.now();
            let mut t2 = t.value.clone();
            t2.owner = new_owner;
            let (mut o2, mut n2) = (change.previous_owner, change.new_owner);
            o2.modified_at = now;
            n2.modified_at = now;
            let mut tx = Tx::new(sc);
            tx.update(keys::TENANT, t.version, &t2)?;
            tx.update(&keys::member(actor_id), old.version, &o2)?;
            tx.update(&keys::member(new_owner), new.version, &n2)?;
            append(
                &mut tx,
                &t2,
                now,
                &actor.audit,
                AuditKind::AccountConfiguration,
                format!("ownership transferred to {new_owner}"),
                None,
            )?;
            tx.commit(&*self.store).await.map(|_| ())
        })
        .await
    }

    /// Changes a member's type (002/004 §2.2): nobody edits a higher type, grants a type above
    /// their own or changes their own type, and the owner's type changes only through
    /// [`Directory::transfer_ownership`] (`rules::user_types::can_set_type`). The acting
    /// member's record is a precondition of the batch, so a concurrent demotion of the actor
    /// makes this start over. Returns the updated membership.
    pub async fn set_member_type(
        &self,
        tenant: TenantId,
        actor: &Actor,
        user: UserId,
        new_type: UserType,
    ) -> Result<Membership, DirectoryError> {
        let allowed = |by: Option<&Membership>, m: &Membership| match by {
            Some(by) => user_types::can_set_type(by, m, new_type),
            None if m.user_type == UserType::AccountOwner || new_type == UserType::AccountOwner => {
                Err(DirectoryError::NotAllowed(
                    "the account owner changes only through ownership transfer",
                ))
            }
            None => Ok(()),
        };
        self.edit_membership(tenant, actor, user, None, allowed, |m| {
            if m.user_type == new_type {
                return None;
            }
            let was = m.user_type;
            m.user_type = new_type;
            Some(format!(
                "user {user} type changed from {was:?} to {new_type:?}"
            ))
        })
        .await
    }

    /// Turns a member's own MFA flag on or off (002/004 §1.4: users toggle it in their profile,
    /// admins when editing a user). Refused under policy "Enforced" (nobody may change it) and
    /// when enabling under "Disabled" (`rules::tenant::check_mfa_change`); the tenant record is
    /// a precondition of the batch, so a concurrent policy change makes this start over.
    /// Returns the updated membership.
    pub async fn set_member_mfa(
        &self,
        tenant: TenantId,
        actor: &Actor,
        user: UserId,
        enabled: bool,
    ) -> Result<Membership, DirectoryError> {
        let policy = |t: &Tenant| check_mfa_change(t.mfa_policy, enabled);
        let allowed = |by: Option<&Membership>, m: &Membership| match by {
            Some(by) => user_types::can_edit(by, m),
            None => Ok(()),
        };
        self.edit_membership(tenant, actor, user, Some(&policy), allowed, |m| {
            if m.mfa_enabled == enabled {
                return None;
            }
            m.mfa_enabled = enabled;
            Some(format!(
                "multi-factor authentication {} for user {user}",
                if enabled { "enabled" } else { "disabled" }
            ))
        })
        .await
    }

    /// Edits `user`'s membership as `actor` in one batch with its audit record. `policy`, when
    /// given, checks the tenant, whose record then becomes a precondition; `allowed` checks the
    /// acting member's record against the edited one (`None`: the system acts; a user editing
    /// themselves is checked against their own record), and another acting user's record is a
    /// precondition too; `change` edits and returns the audit sentence, or `None` when the
    /// membership already is as asked (nothing is written). Returns the membership.
    async fn edit_membership(
        &self,
        tenant: TenantId,
        actor: &Actor,
        user: UserId,
        policy: Option<TenantRule<'_>>,
        allowed: impl Fn(Option<&Membership>, &Membership) -> Result<(), DirectoryError>,
        change: impl Fn(&mut Membership) -> Option<String>,
    ) -> Result<Membership, DirectoryError> {
        retry(|| async {
            let t = self.tenant_rec(tenant).await?;
            if let Some(policy) = policy {
                policy(&t.value)?;
            }
            let sc = scope(tenant)?;
            let m: Rec<Membership> = self.read_record(&sc, user).await?;
            let mut tx = Tx::new(sc.clone());
            if policy.is_some() {
                tx.expect(keys::TENANT, Some(t.version));
            }
            match actor.user_id() {
                Some(a) if a == user => allowed(Some(&m.value), &m.value)?,
                Some(a) => {
                    let am = actor_rec(self, &sc, a).await?;
                    allowed(Some(&am.value), &m.value)?;
                    tx.expect(&keys::member(a), Some(am.version));
                }
                None if actor.audit == crate::model::AuditActor::System => {
                    allowed(None, &m.value)?;
                }
                None => return Err(DirectoryError::NotAllowed("only users manage users")),
            }
            let mut m2 = m.value.clone();
            let Some(what) = change(&mut m2) else {
                return Ok(m.value);
            };
            let now = self.now();
            m2.modified_at = now;
            m2.modified_by = actor.user_id();
            tx.update(&keys::member(user), m.version, &m2)?;
            append(
                &mut tx,
                &t.value,
                now,
                &actor.audit,
                AuditKind::User,
                what,
                None,
            )?;
            tx.commit(&*self.store).await?;
            Ok(m2)
        })
        .await
    }

    /// Replaces an identity's credentials (TOTP secret, recovery codes, password hash) with
    /// compare-and-set; `edit` may refuse.
    pub async fn update_credentials(
        &self,
        user: UserId,
        edit: impl Fn(&mut Credentials) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        retry(|| async {
            let u: Rec<User> = read_known(
                &*self.store,
                &Scope::global(),
                &keys::user(user),
                UserId::KIND,
                user,
            )
            .await?;
            let mut u2 = u.value.clone();
            edit(&mut u2.credentials)?;
            u2.modified_at = self.now();
            let mut g = Tx::new(Scope::global());
            g.update(&keys::user(user), u.version, &u2)?;
            g.commit(&*self.store).await.map(|_| ())
        })
        .await
    }

    /// Changes an internal user's password (policy + Argon2id).
    pub async fn set_password(&self, user: UserId, password: String) -> Result<(), DirectoryError> {
        let u = self.user(user).await?;
        if !u.auth_method.has_local_password() {
            return Err(DirectoryError::ExternalAuthentication);
        }
        let hash = hash_password(password).await?;
        self.update_credentials(user, |c| {
            c.password_hash = Some(hash.clone());
            Ok(())
        })
        .await
    }

    /// Checks a password (Argon2id verify in the blocking pool); `Ok(false)` on mismatch.
    pub async fn verify_password(
        &self,
        user: UserId,
        password: String,
    ) -> Result<bool, DirectoryError> {
        let u = self.user(user).await?;
        let Some(hash) = u.credentials.password_hash else {
            return Ok(false);
        };
        tokio::task::spawn_blocking(move || password::verify_password(&hash, &password))
            .await
            .map_err(|e| DirectoryError::PasswordHash(e.to_string()))?
    }
}
