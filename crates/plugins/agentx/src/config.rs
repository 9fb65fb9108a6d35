//! The `[[agentx]]` section (agentx spec §1), plus `unix:PATH` addresses.
//!
//! Must never: accept an agent-timeout that does not fit the Open PDU's one byte (the
//! original's protocol thread panicked on it and then ignored SIGTERM).

use crate::session::MasterAddress;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AgentxConfig {
    /// `host:port` or `unix:/path` of the master's AgentX socket.
    #[serde(default = "default_address", with = "as_text")]
    pub address: MasterAddress,
    /// Seconds a built table may be served while the state changes.
    #[serde(default = "sixty")]
    pub cache_max: u64,
    /// Seconds, sent to the master in the Open PDU: 0 to 255.
    #[serde(default = "sixty_u8", deserialize_with = "agent_timeout")]
    pub agent_timeout: u8,
    /// Serve the per-peer count columns 24–49.
    #[serde(default = "yes")]
    pub peer_states: bool,
}

fn default_address() -> MasterAddress {
    MasterAddress::Tcp("localhost:705".into())
}
fn sixty() -> u64 {
    60
}
fn sixty_u8() -> u8 {
    60
}
fn yes() -> bool {
    true
}

fn agent_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let v = i64::deserialize(d)?;
    u8::try_from(v).map_err(|_| {
        serde::de::Error::custom(format!(
            "agent-timeout is {v}, but must be 0 to 255 seconds (it is one byte in the AgentX Open PDU)"
        ))
    })
}

mod as_text {
    use super::*;
    pub fn serialize<S: Serializer>(a: &MasterAddress, s: S) -> Result<S::Ok, S::Error> {
        match a {
            MasterAddress::Tcp(t) => s.serialize_str(t),
            MasterAddress::Unix(p) => s.serialize_str(&format!("unix:{}", p.display())),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MasterAddress, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<AgentxConfig, String> {
        toml::from_str(s).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_originals() {
        let c = parse("").unwrap();
        assert_eq!(c.address, MasterAddress::Tcp("localhost:705".into()));
        assert_eq!(
            (c.cache_max, c.agent_timeout, c.peer_states),
            (60, 60, true)
        );
    }

    #[test]
    fn agent_timeout_out_of_range_is_a_config_error() {
        let e = parse("agent-timeout = 256").unwrap_err();
        assert!(e.contains("0 to 255"), "{e}");
        assert!(parse("agent-timeout = -1").is_err());
        assert_eq!(parse("agent-timeout = 255").unwrap().agent_timeout, 255);
    }

    #[test]
    fn unix_sockets_are_accepted_and_round_trip() {
        let c = parse("address = \"unix:/var/agentx/master\"").unwrap();
        assert_eq!(c.address, MasterAddress::Unix("/var/agentx/master".into()));
        assert_eq!(parse(&toml::to_string(&c).unwrap()).unwrap(), c);
        assert!(parse("address = \"unix:\"").is_err());
        assert!(parse("address = \"nonsense\"").is_err());
    }
}
