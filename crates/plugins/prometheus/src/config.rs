//! The `[[prometheus]]` section (prometheus spec §1). Unknown keys are warnings (the config
//! crate reports them), as in the original.
//!
//! Must never: accept an address form the original rejects, or change a default.

use crate::address::ListenAddress;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PrometheusConfig {
    #[serde(default = "default_address", with = "as_text")]
    pub address: ListenAddress,
    /// Also emit the enum families (role, connection state, disk state).
    #[serde(default)]
    pub enums: bool,
    /// Deprecated and ignored, but part of the instance's identity (as in the original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

fn default_address() -> ListenAddress {
    ListenAddress::AnyAddress(9942)
}

mod as_text {
    use super::*;
    pub fn serialize<S: Serializer>(a: &ListenAddress, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&a.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ListenAddress, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<PrometheusConfig, String> {
        toml::from_str(s).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_originals() {
        let c = parse("").unwrap();
        assert_eq!(c.address, ListenAddress::AnyAddress(9942));
        assert!(!c.enums);
        assert_eq!(c.id, None);
    }

    #[test]
    fn wrong_types_and_addresses_are_errors() {
        assert!(parse("enums = \"yes\"").is_err());
        assert!(parse("address = 9942").is_err());
        let e = parse("address = \"localhost:9942\"").unwrap_err();
        assert!(e.contains("localhost:9942"), "{e}");
    }

    #[test]
    fn the_section_round_trips_through_toml() {
        let c = parse("address = \"127.0.0.1:9942\"\nenums = true\n").unwrap();
        assert_eq!(parse(&toml::to_string(&c).unwrap()).unwrap(), c);
    }
}
