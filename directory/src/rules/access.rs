//! What an evaluation returns: the granted permissions plus the restrictive overlays.
//!
//! Permission flags combine as a union. Overlays (confirm access, whitelisting) apply when any
//! applicable assignment carries them (002/004: confirm access triggers if "enabled in any of
//! their role assignments"). When several applicable assignments carry the same overlay with
//! different exceptions, the strictest combination wins: an exception ("except when locked",
//! "only when locked") holds only if every assignment carrying that overlay has it. Whitelisted
//! application lists are merged as a union (the seeds leave this open; digest §13).
//!
//! This module only combines; `evaluate` and `snapshot` decide which assignments apply.

use crate::model::permission::{Permission, PermissionSet};
use crate::model::role::Role;

/// Confirm-access requirement of a session (002/004 §5.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConfirmRequirement {
    /// The Host's local user must accept.
    pub host_prompt: bool,
    /// The host prompt is skipped when the computer is locked (Windows Hosts only).
    pub prompt_skipped_when_locked: bool,
    /// The host prompt is skipped when nobody is logged in (Windows Hosts only).
    pub prompt_skipped_when_no_user: bool,
    /// Approval by email from the approver groups is requested.
    pub email: bool,
    /// Email approval is requested only when the computer is locked.
    pub email_only_when_locked: bool,
    /// Email approval is requested only when nobody is logged in.
    pub email_only_when_no_user: bool,
}

impl ConfirmRequirement {
    /// Whether any confirmation applies.
    pub fn is_required(&self) -> bool {
        self.host_prompt || self.email
    }
}

/// Whitelisting requirement of a session (002/004 §5.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WhitelistRequirement {
    /// The session is restricted to the whitelisted applications.
    pub enabled: bool,
    /// Not restricted when the computer is locked at session start.
    pub except_when_locked: bool,
    /// Not restricted when nobody is logged in at session start.
    pub except_when_no_user: bool,
}

/// The effective access of a user on a device (or for OnDemand / administration) at an
/// instant. `Copy` and allocation-free.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Access {
    /// Union of the permission sets of every applicable assignment.
    pub permissions: PermissionSet,
    /// Confirm-access overlay.
    pub confirm: ConfirmRequirement,
    /// Whitelisting overlay.
    pub whitelist: WhitelistRequirement,
    /// How many assignments applied.
    pub contributing: u32,
}

impl Access {
    /// Whether no permission is granted (the device is not reachable).
    pub fn is_empty(&self) -> bool {
        self.permissions.is_empty()
    }

    /// Whether `p` is granted.
    pub fn allows(&self, p: Permission) -> bool {
        self.permissions.contains(p)
    }

    /// Adds one applicable assignment's role.
    pub fn merge(&mut self, o: &Overlay) {
        self.permissions |= o.permissions;
        self.contributing += 1;
        let c = &mut self.confirm;
        if o.confirm.host_prompt {
            if c.host_prompt {
                c.prompt_skipped_when_locked &= o.confirm.prompt_skipped_when_locked;
                c.prompt_skipped_when_no_user &= o.confirm.prompt_skipped_when_no_user;
            } else {
                c.host_prompt = true;
                c.prompt_skipped_when_locked = o.confirm.prompt_skipped_when_locked;
                c.prompt_skipped_when_no_user = o.confirm.prompt_skipped_when_no_user;
            }
        }
        if o.confirm.email {
            if c.email {
                c.email_only_when_locked &= o.confirm.email_only_when_locked;
                c.email_only_when_no_user &= o.confirm.email_only_when_no_user;
            } else {
                c.email = true;
                c.email_only_when_locked = o.confirm.email_only_when_locked;
                c.email_only_when_no_user = o.confirm.email_only_when_no_user;
            }
        }
        let w = &mut self.whitelist;
        if o.whitelist.enabled {
            if w.enabled {
                w.except_when_locked &= o.whitelist.except_when_locked;
                w.except_when_no_user &= o.whitelist.except_when_no_user;
            } else {
                *w = o.whitelist;
            }
        }
    }
}

/// What the Host reports at session start (002/004 §5.5: the lock / logged-in exceptions are
/// honoured on Windows Hosts only; other Hosts cannot report the state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HostState {
    /// Whether the Host can report the states below (Windows Hosts).
    pub reports_state: bool,
    /// The computer is locked.
    pub locked: bool,
    /// Nobody is logged in.
    pub no_user: bool,
}

/// What a session needs before and during its start, given the Host's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionGate {
    /// Prompt the Host's local user.
    pub prompt_host: bool,
    /// Email the approver groups.
    pub email_approvers: bool,
    /// Restrict the session to the whitelisted applications.
    pub whitelist: bool,
}

impl SessionGate {
    /// Whether someone must approve before the session starts (the first approval wins).
    pub fn needs_approval(&self) -> bool {
        self.prompt_host || self.email_approvers
    }
}

impl Access {
    /// Applies the overlays to the Host's state at session start. A Host that cannot report
    /// its state gets the prompt and the whitelist whenever they are enabled ("the confirm
    /// access mechanism will always be triggered"). The email "only when" options restrict the
    /// email to those states; with neither set, the email is always sent.
    pub fn session_gate(&self, host: HostState) -> SessionGate {
        let c = &self.confirm;
        let locked = host.reports_state && host.locked;
        let no_user = host.reports_state && host.no_user;
        let prompt_skipped =
            (c.prompt_skipped_when_locked && locked) || (c.prompt_skipped_when_no_user && no_user);
        let email_restricted = c.email_only_when_locked || c.email_only_when_no_user;
        let email_state_ok =
            (c.email_only_when_locked && locked) || (c.email_only_when_no_user && no_user);
        let w = &self.whitelist;
        let whitelist_skipped =
            (w.except_when_locked && locked) || (w.except_when_no_user && no_user);
        SessionGate {
            prompt_host: c.host_prompt && !prompt_skipped,
            email_approvers: c.email && (!email_restricted || email_state_ok),
            whitelist: w.enabled && !whitelist_skipped,
        }
    }
}

/// Features an endpoint (Guest or Host) advertises. 002/004: connections are **denied** when
/// an applicable assignment enables a feature the client does not support (confirm access from
/// 12.67/12.70, confirm via email from 12.82, whitelisting from 12.74 in the products we
/// replace; here the agent advertises the features instead of a version).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientFeatures {
    /// Supports the host-side confirm-access prompt.
    pub confirm_prompt: bool,
    /// Supports waiting for confirm-access-by-email.
    pub confirm_email: bool,
    /// Supports whitelisted-application sessions.
    pub whitelist: bool,
}

/// The feature a session needs and a client lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MissingFeature {
    /// Confirm access (host prompt).
    ConfirmPrompt,
    /// Confirm access via email.
    ConfirmEmail,
    /// Whitelisted applications.
    Whitelist,
}

impl Access {
    /// The first feature the overlays need that `client` lacks, if any. Checked for both the
    /// Guest and the Host, before the session is offered; any `Some` denies the connection.
    pub fn missing_feature(&self, client: ClientFeatures) -> Option<MissingFeature> {
        if self.confirm.host_prompt && !client.confirm_prompt {
            Some(MissingFeature::ConfirmPrompt)
        } else if self.confirm.email && !client.confirm_email {
            Some(MissingFeature::ConfirmEmail)
        } else if self.whitelist.enabled && !client.whitelist {
            Some(MissingFeature::Whitelist)
        } else {
            None
        }
    }
}

/// What one role contributes, in `Copy` form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Overlay {
    /// The role's permissions.
    pub permissions: PermissionSet,
    /// The role's confirm options.
    pub confirm: ConfirmRequirement,
    /// The role's whitelisting options.
    pub whitelist: WhitelistRequirement,
}

impl Overlay {
    /// The overlay of a role.
    pub fn of_role(role: &Role) -> Self {
        let c = &role.confirm;
        Self {
            permissions: role.permissions,
            confirm: ConfirmRequirement {
                host_prompt: c.host_prompt,
                prompt_skipped_when_locked: c.host_prompt && c.except_when_locked,
                prompt_skipped_when_no_user: c.host_prompt && c.except_when_no_user,
                email: c.email,
                email_only_when_locked: c.email && c.email_only_when_locked,
                email_only_when_no_user: c.email && c.email_only_when_no_user,
            },
            whitelist: match &role.whitelist {
                Some(w) => WhitelistRequirement {
                    enabled: true,
                    except_when_locked: w.except_when_locked,
                    except_when_no_user: w.except_when_no_user,
                },
                None => WhitelistRequirement::default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_features_deny() {
        // 002/004 §5.5: "For older Guests and Hosts, the connection between them is denied if
        // the Confirm Access feature is enabled in any of their role assignments."
        let mut a = Access::default();
        assert_eq!(a.missing_feature(ClientFeatures::default()), None);
        a.confirm.email = true;
        let old = ClientFeatures {
            confirm_prompt: true,
            ..Default::default()
        };
        assert_eq!(a.missing_feature(old), Some(MissingFeature::ConfirmEmail));
        a.whitelist.enabled = true;
        let newer = ClientFeatures {
            confirm_prompt: true,
            confirm_email: true,
            whitelist: false,
        };
        assert_eq!(a.missing_feature(newer), Some(MissingFeature::Whitelist));
        let all = ClientFeatures {
            confirm_prompt: true,
            confirm_email: true,
            whitelist: true,
        };
        assert_eq!(a.missing_feature(all), None);
    }

    #[test]
    fn session_gate_honours_exceptions_only_when_the_host_reports_state() {
        // 002/004 §5.5: "Except when computer is locked", "Except when no user is logged in";
        // "For other Hosts, the confirm access mechanism will always be triggered".
        let a = Access {
            confirm: ConfirmRequirement {
                host_prompt: true,
                prompt_skipped_when_locked: true,
                email: true,
                email_only_when_locked: true,
                ..Default::default()
            },
            whitelist: WhitelistRequirement {
                enabled: true,
                except_when_no_user: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let windows_locked = HostState {
            reports_state: true,
            locked: true,
            no_user: false,
        };
        let g = a.session_gate(windows_locked);
        assert!(!g.prompt_host && g.email_approvers && g.whitelist && g.needs_approval());
        let windows_present = HostState {
            reports_state: true,
            ..Default::default()
        };
        let g = a.session_gate(windows_present);
        assert!(g.prompt_host && !g.email_approvers);
        let linux_locked = HostState {
            reports_state: false,
            locked: true,
            no_user: true,
        };
        let g = a.session_gate(linux_locked);
        assert!(g.prompt_host && g.whitelist && !g.email_approvers);
        let no_user = HostState {
            reports_state: true,
            locked: false,
            no_user: true,
        };
        assert!(!a.session_gate(no_user).whitelist);
        assert_eq!(
            Access::default().session_gate(windows_locked),
            SessionGate::default()
        );
    }

    fn prompt(locked: bool, no_user: bool) -> Overlay {
        Overlay {
            confirm: ConfirmRequirement {
                host_prompt: true,
                prompt_skipped_when_locked: locked,
                prompt_skipped_when_no_user: no_user,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn strictest_confirm_exception_wins() {
        // 002/004 §5.5: confirm access applies if "enabled in any of their role assignments".
        let mut a = Access::default();
        a.merge(&Overlay {
            permissions: PermissionSet::DEVICE_FULL,
            ..Default::default()
        });
        assert!(!a.confirm.is_required());
        a.merge(&prompt(true, true));
        assert!(a.confirm.host_prompt && a.confirm.prompt_skipped_when_locked);
        a.merge(&prompt(false, true));
        assert!(!a.confirm.prompt_skipped_when_locked);
        assert!(a.confirm.prompt_skipped_when_no_user);
        assert_eq!(a.contributing, 3);
        assert_eq!(a.permissions, PermissionSet::DEVICE_FULL);
    }
}
