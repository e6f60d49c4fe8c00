//! The user-type hierarchy (002/004 §2.2): User < Group manager < Account administrator <
//! Account owner, and the membership rules that follow from it.
//!
//! Every function takes the actor's and the target's memberships in the same tenant and says
//! yes (`Ok`) or why not. Nothing is stored here.

use crate::error::DirectoryError;
use crate::model::{Membership, MembershipState, TenantId, User, UserType};

fn same_tenant(actor: &Membership, target: &Membership) -> Result<(), DirectoryError> {
    if actor.tenant == target.tenant {
        Ok(())
    } else {
        Err(DirectoryError::NotAllowed(
            "the users are in different accounts",
        ))
    }
}

fn active(actor: &Membership) -> Result<(), DirectoryError> {
    if actor.state.is_active() {
        Ok(())
    } else {
        Err(DirectoryError::NotAllowed("the acting user is not active"))
    }
}

/// Longest accepted username, in bytes.
pub const MAX_USERNAME_BYTES: usize = 254;

/// Validates a new username: non-empty, at most 254 bytes, no whitespace or control
/// characters. `domain\user` forms belong to external methods and are accepted as given.
/// Uniqueness is the store's job (one index over every tenant).
pub fn validate_username(name: &str) -> Result<(), DirectoryError> {
    if name.is_empty() || name.len() > MAX_USERNAME_BYTES {
        return Err(DirectoryError::NotAllowed(
            "a username needs 1 to 254 bytes",
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(DirectoryError::NotAllowed(
            "a username cannot contain spaces or control characters",
        ));
    }
    Ok(())
}

/// Checks an edit of an identity: the username is immutable (002/004: "non-editable").
pub fn check_user_update(old: &User, new: &User) -> Result<(), DirectoryError> {
    if old.id != new.id {
        return Err(DirectoryError::NotAllowed("a user's id is fixed"));
    }
    if old.username != new.username {
        return Err(DirectoryError::NotAllowed("the username cannot be changed"));
    }
    if old.primary_tenant != new.primary_tenant {
        return Err(DirectoryError::NotAllowed(
            "the primary account cannot be changed",
        ));
    }
    Ok(())
}

/// Whether `actor` may invite users ("Group manager or higher can invite users") with type
/// `as_type`: nobody invites above their own type, and nobody invites an owner.
pub fn can_invite(actor: &Membership, as_type: UserType) -> Result<(), DirectoryError> {
    active(actor)?;
    if actor.user_type < UserType::GroupManager {
        return Err(DirectoryError::NotAllowed(
            "only group managers or higher can invite",
        ));
    }
    if as_type == UserType::AccountOwner || as_type > actor.user_type {
        return Err(DirectoryError::NotAllowed(
            "cannot invite with a type above your own",
        ));
    }
    Ok(())
}

/// Whether `actor` may edit `target` ("You are not allowed to edit a user whose role is higher
/// than the user you are logged in as"). Editing oneself (profile) is always allowed.
pub fn can_edit(actor: &Membership, target: &Membership) -> Result<(), DirectoryError> {
    same_tenant(actor, target)?;
    active(actor)?;
    if actor.user == target.user {
        return Ok(());
    }
    if actor.user_type < UserType::GroupManager {
        return Err(DirectoryError::NotAllowed(
            "only group managers or higher manage users",
        ));
    }
    if target.user_type > actor.user_type {
        return Err(DirectoryError::NotAllowed(
            "cannot edit a user of a higher type",
        ));
    }
    Ok(())
}

/// Whether `actor` may set `target`'s type to `new_type`: `can_edit`, not above the actor's own
/// type, and never to or from Account owner ("The Account Owner's type cannot be changed from
/// user edit"; use [`transfer_ownership`]). Nobody changes their own type.
pub fn can_set_type(
    actor: &Membership,
    target: &Membership,
    new_type: UserType,
) -> Result<(), DirectoryError> {
    can_edit(actor, target)?;
    if actor.user == target.user && new_type != target.user_type {
        return Err(DirectoryError::NotAllowed("cannot change your own type"));
    }
    if target.user_type == UserType::AccountOwner || new_type == UserType::AccountOwner {
        return Err(DirectoryError::NotAllowed(
            "the account owner changes only through ownership transfer",
        ));
    }
    if new_type > actor.user_type {
        return Err(DirectoryError::NotAllowed(
            "cannot grant a type above your own",
        ));
    }
    Ok(())
}

/// Whether `actor` may remove (or disable) `target`: group manager or higher, and "the
/// logged-in user can only remove users with roles below their role". Nobody removes
/// themselves this way, and the owner can never be removed.
pub fn can_remove(actor: &Membership, target: &Membership) -> Result<(), DirectoryError> {
    same_tenant(actor, target)?;
    active(actor)?;
    if actor.user_type < UserType::GroupManager {
        return Err(DirectoryError::NotAllowed(
            "only group managers or higher remove users",
        ));
    }
    if target.user_type >= actor.user_type {
        return Err(DirectoryError::NotAllowed(
            "can only remove users of a type below your own",
        ));
    }
    Ok(())
}

/// The result of an ownership transfer: both memberships updated. Both users must log in
/// again (004: "You will also be required to re-login"); the caller revokes their sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnershipTransfer {
    /// The new owner's membership (type Account owner).
    pub new_owner: Membership,
    /// The previous owner's membership (type Account administrator).
    pub previous_owner: Membership,
}

/// Transfers ownership from `actor` (who must be the owner) to `target` (an active member).
/// 004: "you will not be an Account owner any longer. You will be immediately demoted to an
/// Account administrator."
pub fn transfer_ownership(
    actor: &Membership,
    target: &Membership,
) -> Result<OwnershipTransfer, DirectoryError> {
    same_tenant(actor, target)?;
    active(actor)?;
    if actor.user_type != UserType::AccountOwner {
        return Err(DirectoryError::NotAllowed(
            "only the account owner transfers ownership",
        ));
    }
    if actor.user == target.user {
        return Err(DirectoryError::NotAllowed("you already own the account"));
    }
    if target.state != MembershipState::Active {
        return Err(DirectoryError::NotAllowed(
            "the new owner must be an active member",
        ));
    }
    let mut new_owner = target.clone();
    new_owner.user_type = UserType::AccountOwner;
    let mut previous_owner = actor.clone();
    previous_owner.user_type = UserType::AccountAdministrator;
    Ok(OwnershipTransfer {
        new_owner,
        previous_owner,
    })
}

/// The tenants a user leaves when removed from `from`: all of them if `from` is the primary
/// account ("when removing them from their main Portal account, they are automatically removed
/// from their secondary accounts as well"), else just `from`.
pub fn removal_cascade(user: &User, memberships: &[Membership], from: TenantId) -> Vec<TenantId> {
    if from == user.primary_tenant {
        memberships
            .iter()
            .filter(|m| m.user == user.id)
            .map(|m| m.tenant)
            .collect()
    } else {
        vec![from]
    }
}

/// The landing page of a type (002/004: owners, administrators and group managers go to the
/// Dashboard; users go to My devices).
pub fn lands_on_dashboard(t: UserType) -> bool {
    t >= UserType::GroupManager
}

/// Capabilities by type (002/004 §2.2), for the admin API's guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Manage users and devices; view roles and assignments; view and generate logs.
    ManageUsersAndDevices,
    /// Remove devices.
    RemoveDevices,
    /// Manage groups, roles, role assignments, authentication methods, packages, MFA and
    /// audit settings; delete log reports.
    Administer,
    /// Account configuration (company, timezone, default action, ownership).
    ConfigureAccount,
}

/// Whether `t` has capability `c`.
pub fn has_capability(t: UserType, c: Capability) -> bool {
    let needed = match c {
        Capability::ManageUsersAndDevices => UserType::GroupManager,
        Capability::RemoveDevices | Capability::Administer => UserType::AccountAdministrator,
        Capability::ConfigureAccount => UserType::AccountOwner,
    };
    t >= needed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuthMethod, Credentials, DisabledReason, UserId};
    use UserType::*;
    use jiff::Timestamp;

    fn member(t: TenantId, ty: UserType) -> Membership {
        let mut m = Membership::invited(t, UserId::new_random(), None, Timestamp::UNIX_EPOCH);
        m.state = MembershipState::Active;
        m.user_type = ty;
        m
    }

    const TYPES: [UserType; 4] = [User, GroupManager, AccountAdministrator, AccountOwner];

    #[test]
    fn nobody_edits_a_higher_type() {
        // 002/004: "You are not allowed to edit a user whose role is higher than the user you
        // are logged in as."
        let t = TenantId::new_random();
        for a in TYPES {
            for b in TYPES {
                let (actor, target) = (member(t, a), member(t, b));
                let ok = can_edit(&actor, &target).is_ok();
                assert_eq!(ok, a >= GroupManager && b <= a, "{a:?} edits {b:?}");
            }
        }
        let user = member(t, User);
        can_edit(&user, &user).unwrap();
    }

    #[test]
    fn nobody_removes_an_equal_or_higher_type() {
        // 002/004: "the logged-in user can only remove users with roles below their role".
        let t = TenantId::new_random();
        for a in TYPES {
            for b in TYPES {
                let ok = can_remove(&member(t, a), &member(t, b)).is_ok();
                assert_eq!(ok, a >= GroupManager && b < a, "{a:?} removes {b:?}");
            }
        }
        let mut disabled = member(t, AccountOwner);
        disabled.state = MembershipState::Disabled(DisabledReason::Manual);
        assert!(can_remove(&disabled, &member(t, User)).is_err());
        assert!(
            can_remove(
                &member(t, AccountOwner),
                &member(TenantId::new_random(), User)
            )
            .is_err()
        );
    }

    #[test]
    fn types_and_invitations() {
        let t = TenantId::new_random();
        let admin = member(t, AccountAdministrator);
        let owner = member(t, AccountOwner);
        let gm = member(t, GroupManager);
        let user = member(t, User);
        can_set_type(&admin, &user, GroupManager).unwrap();
        can_set_type(&admin, &user, AccountAdministrator).unwrap();
        assert!(can_set_type(&gm, &user, AccountAdministrator).is_err());
        // "The Account Owner's type cannot be changed from user edit".
        assert!(can_set_type(&owner, &owner, AccountAdministrator).is_err());
        assert!(can_set_type(&owner, &admin, AccountOwner).is_err());
        assert!(can_set_type(&admin, &admin, User).is_err());
        // "Group manager or higher can invite users".
        assert!(can_invite(&user, User).is_err());
        can_invite(&gm, User).unwrap();
        assert!(can_invite(&gm, AccountAdministrator).is_err());
        assert!(can_invite(&owner, AccountOwner).is_err());
    }

    #[test]
    fn only_the_owner_transfers_and_is_demoted_to_administrator() {
        // 004: "Once you hit save, you will not be an Account owner any longer. You will be
        // immediately demoted to an Account administrator."
        let t = TenantId::new_random();
        let owner = member(t, AccountOwner);
        let admin = member(t, AccountAdministrator);
        let user = member(t, User);
        assert!(transfer_ownership(&admin, &user).is_err());
        assert!(transfer_ownership(&owner, &owner).is_err());
        let mut invited = member(t, User);
        invited.state = MembershipState::Invited {
            sent_at: Timestamp::UNIX_EPOCH,
            resends: 0,
        };
        assert!(transfer_ownership(&owner, &invited).is_err());
        let out = transfer_ownership(&owner, &user).unwrap();
        assert_eq!(out.new_owner.user_type, AccountOwner);
        assert_eq!(out.new_owner.user, user.user);
        assert_eq!(out.previous_owner.user_type, AccountAdministrator);
        assert_eq!(out.previous_owner.user, owner.user);
    }

    #[test]
    fn removal_from_primary_cascades() {
        // 002/004: "when removing them from their main Portal account, they are automatically
        // removed from their secondary accounts as well".
        let (primary, second, third) = (
            TenantId::new_random(),
            TenantId::new_random(),
            TenantId::new_random(),
        );
        let id = UserId::new_random();
        let user = crate::model::User {
            id,
            username: "ana".into(),
            first_name: String::new(),
            last_name: String::new(),
            email: "ana@example.com".into(),
            auth_method: AuthMethod::Internal,
            credentials: Credentials::default(),
            primary_tenant: primary,
            created_at: Timestamp::UNIX_EPOCH,
            modified_at: Timestamp::UNIX_EPOCH,
        };
        let ms: Vec<Membership> = [primary, second, third]
            .iter()
            .map(|t| Membership::invited(*t, id, None, Timestamp::UNIX_EPOCH))
            .collect();
        assert_eq!(removal_cascade(&user, &ms, second), vec![second]);
        // 002/004 §2.3: Username: "unique identifier used to log in", non-editable.
        let mut renamed = user.clone();
        renamed.username = "bob".into();
        assert!(check_user_update(&user, &renamed).is_err());
        let mut other = user.clone();
        other.first_name = "Ana".into();
        check_user_update(&user, &other).unwrap();
        validate_username("ana.pop@example.com").unwrap();
        validate_username("CORP\\ana").unwrap();
        assert!(validate_username("ana pop").is_err());
        assert!(validate_username("").is_err());
        assert_eq!(
            removal_cascade(&user, &ms, primary),
            vec![primary, second, third]
        );
    }

    #[test]
    fn capabilities_follow_the_hierarchy() {
        assert!(!has_capability(User, Capability::ManageUsersAndDevices));
        assert!(has_capability(
            GroupManager,
            Capability::ManageUsersAndDevices
        ));
        assert!(!has_capability(GroupManager, Capability::RemoveDevices));
        assert!(has_capability(AccountAdministrator, Capability::Administer));
        assert!(!has_capability(
            AccountAdministrator,
            Capability::ConfigureAccount
        ));
        assert!(has_capability(AccountOwner, Capability::ConfigureAccount));
        assert!(lands_on_dashboard(GroupManager) && !lands_on_dashboard(User));
    }
}
