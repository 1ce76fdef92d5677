//! What a node knows of each client: whether it runs a Mobile IPv6 agent
//! (bindings go to the client) or not (bindings go to the home agent, as
//! flow registrations). Learned from return routability (an answer, or
//! the ICMPv6 Parameter Problem of a stack without Mobile IPv6, or
//! silence), kept for a while, renewed with use; the configuration may
//! force either way. Pure data: the node's driver does the asking.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::config::RouteOptimization;

/// Whom a client's bindings go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// It runs an agent: bindings go to it (route optimisation).
    Agent,
    /// It runs none: bindings go to the home agent, per connection.
    NoAgent,
}

impl ClientKind {
    /// As a metric label.
    pub fn label(self) -> &'static str {
        match self {
            ClientKind::Agent => "agent",
            ClientKind::NoAgent => "no_agent",
        }
    }
}

/// The clients' kinds a node learned.
#[derive(Debug)]
pub struct ClientKinds {
    mode: RouteOptimization,
    remember: Duration,
    known: HashMap<Ipv6Addr, (ClientKind, Instant)>,
}

impl ClientKinds {
    /// Knows nothing yet; keeps what it learns for `remember` after its
    /// last use, unless `mode` forces every client's kind.
    pub fn new(mode: RouteOptimization, remember: Duration) -> ClientKinds {
        ClientKinds {
            mode,
            remember,
            known: HashMap::new(),
        }
    }

    /// `client`'s kind at `now`: forced by the mode, else remembered (which
    /// renews it); `None` when it must be learned.
    pub fn kind(&mut self, client: Ipv6Addr, now: Instant) -> Option<ClientKind> {
        match self.mode {
            RouteOptimization::Always => return Some(ClientKind::Agent),
            RouteOptimization::Never => return Some(ClientKind::NoAgent),
            RouteOptimization::Auto => {}
        }
        let remember = self.remember;
        match self.known.get_mut(&client) {
            Some((kind, until)) if *until > now => {
                *until = now + remember;
                Some(*kind)
            }
            Some(_) => {
                self.known.remove(&client);
                None
            }
            None => None,
        }
    }

    /// Records what was learned of `client` at `now`; true if it changed
    /// what was known.
    pub fn learn(&mut self, client: Ipv6Addr, kind: ClientKind, now: Instant) -> bool {
        let before = self.known.insert(client, (kind, now + self.remember));
        before.is_none_or(|(k, until)| k != kind || until <= now)
    }

    /// Forgets what ran out by `now` (keeps the memory bounded by the
    /// clients seen within `remember`).
    pub fn prune(&mut self, now: Instant) {
        self.known.retain(|_, (_, until)| *until > now);
    }

    /// How many clients are remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 1, 0, 0, 0, 2);
    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn learned_kinds_are_kept_renewed_and_forgotten() {
        let mut k = ClientKinds::new(RouteOptimization::Auto, MIN);
        let t0 = Instant::now();
        assert_eq!(k.kind(C, t0), None);
        assert!(k.learn(C, ClientKind::NoAgent, t0));
        assert!(!k.learn(C, ClientKind::NoAgent, t0));
        // Used at 50 s: kept until 110 s.
        assert_eq!(
            k.kind(C, t0 + Duration::from_secs(50)),
            Some(ClientKind::NoAgent)
        );
        assert_eq!(
            k.kind(C, t0 + Duration::from_secs(100)),
            Some(ClientKind::NoAgent)
        );
        assert_eq!(k.kind(C, t0 + Duration::from_secs(161)), None);
        // A client that installs an agent later is learned anew.
        assert!(k.learn(C, ClientKind::Agent, t0 + Duration::from_secs(170)));
        assert_eq!(
            k.kind(C, t0 + Duration::from_secs(171)),
            Some(ClientKind::Agent)
        );
        k.prune(t0 + Duration::from_secs(300));
        assert!(k.is_empty());
    }

    #[test]
    fn the_configuration_forces_either_way() {
        let now = Instant::now();
        let mut always = ClientKinds::new(RouteOptimization::Always, MIN);
        always.learn(C, ClientKind::NoAgent, now);
        assert_eq!(always.kind(C, now), Some(ClientKind::Agent));
        let mut never = ClientKinds::new(RouteOptimization::Never, MIN);
        assert_eq!(never.kind(C, now), Some(ClientKind::NoAgent));
    }
}
