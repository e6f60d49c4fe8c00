//! The `[limits]` table: admission control of the actors (session and login rates per
//! tenant, concurrent sessions per tenant and per broker). Defaults are the actors' own
//! (`ActorConfig::default()`); a load test or a large tenant raises them here.
//!
//! It only carries numbers into `ActorConfig`; the token buckets live in the actors.

use serde::Deserialize;
use switchboard_actors::ActorConfig;

use crate::error::BrokerError;

/// Per-tenant and per-broker admission limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Session requests one tenant may burst (beyond: `rate_limited`).
    pub session_rate_burst: u32,
    /// Session requests per second one tenant refills.
    pub session_rate_per_second: f64,
    /// Control-plane logins one tenant may burst.
    pub login_rate_burst: u32,
    /// Control-plane logins per second one tenant refills.
    pub login_rate_per_second: f64,
    /// Concurrent sessions of one tenant (beyond: `quota_exceeded`).
    pub max_sessions_per_tenant: usize,
    /// Concurrent sessions of this broker (beyond: `quota_exceeded`).
    pub max_sessions: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let a = ActorConfig::default();
        Self {
            session_rate_burst: a.session_rate_burst,
            session_rate_per_second: a.session_rate_per_second,
            login_rate_burst: a.login_rate_burst,
            login_rate_per_second: a.login_rate_per_second,
            max_sessions_per_tenant: a.max_sessions_per_tenant,
            max_sessions: a.max_sessions,
        }
    }
}

impl LimitsConfig {
    /// Refuses zero, negative or non-finite values (a zero limit would refuse everything).
    pub fn validate(&self) -> Result<(), BrokerError> {
        let rate_ok = |r: f64| r.is_finite() && r > 0.0;
        if self.session_rate_burst == 0
            || self.login_rate_burst == 0
            || !rate_ok(self.session_rate_per_second)
            || !rate_ok(self.login_rate_per_second)
            || self.max_sessions_per_tenant == 0
            || self.max_sessions == 0
        {
            return Err(BrokerError::Config(
                "limits: every value must be above 0".into(),
            ));
        }
        Ok(())
    }

    /// Writes these limits into the actors' configuration.
    pub fn apply(&self, actors: &mut ActorConfig) {
        actors.session_rate_burst = self.session_rate_burst;
        actors.session_rate_per_second = self.session_rate_per_second;
        actors.login_rate_burst = self.login_rate_burst;
        actors.login_rate_per_second = self.login_rate_per_second;
        actors.max_sessions_per_tenant = self.max_sessions_per_tenant;
        actors.max_sessions = self.max_sessions;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_actors_and_apply_copies_every_value() {
        let l = LimitsConfig::default();
        assert!(l.validate().is_ok());
        let raised: LimitsConfig = toml::from_str(
            "session_rate_burst = 5000\nsession_rate_per_second = 5000.0\n\
             login_rate_burst = 7\nlogin_rate_per_second = 2.5\n\
             max_sessions_per_tenant = 200000\nmax_sessions = 300000",
        )
        .unwrap();
        let mut a = ActorConfig::default();
        raised.apply(&mut a);
        assert_eq!(a.session_rate_burst, 5000);
        assert_eq!(a.session_rate_per_second, 5000.0);
        assert_eq!(a.login_rate_burst, 7);
        assert_eq!(a.login_rate_per_second, 2.5);
        assert_eq!(a.max_sessions_per_tenant, 200_000);
        assert_eq!(a.max_sessions, 300_000);
    }

    #[test]
    fn zero_or_unknown_values_are_refused() {
        let zero: LimitsConfig = toml::from_str("session_rate_burst = 0").unwrap();
        assert!(zero.validate().is_err());
        let nan = LimitsConfig {
            login_rate_per_second: f64::NAN,
            ..LimitsConfig::default()
        };
        assert!(nan.validate().is_err());
        let err = toml::from_str::<LimitsConfig>("sessions_per_second = 3").unwrap_err();
        assert!(err.to_string().contains("sessions_per_second"), "{err}");
    }
}
