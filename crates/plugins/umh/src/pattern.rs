//! A filter value of a umh rule: `key = VALUE` (Equals) or `key = { operator = "...", value =
//! VALUE }`, the two TOML forms the original accepts (umh spec §2.4).
//!
//! Must never: accept a misspelt operator or an unknown key inside the operator table (a typo
//! must not turn a rule into one that matches everything).

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Operator {
    #[default]
    Equals,
    NotEquals,
}

/// A value to compare a field with, and how.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern<T> {
    pub operator: Operator,
    pub value: T,
}

impl<T> Pattern<T> {
    /// `actual` may be a borrowed form of the value (a `&str` for a `String` filter), so a
    /// name is not copied per update to be compared.
    pub fn matches<U: ?Sized>(&self, actual: &U) -> bool
    where
        T: PartialEq<U>,
    {
        match self.operator {
            Operator::Equals => self.value == *actual,
            Operator::NotEquals => self.value != *actual,
        }
    }

    /// For a field the update does not have (a helper line without a volume, a helper that
    /// did not exit but was killed or could not start): no value equals it, so only
    /// NotEquals holds.
    pub fn matches_absent(&self) -> bool {
        self.operator == Operator::NotEquals
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Pattern<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::Table(mut t) => {
                if let Some(k) = t.keys().find(|k| *k != "value" && *k != "operator") {
                    return Err(D::Error::custom(format!(
                        "unknown key `{k}` in a filter table (expected `value` and optional `operator`)"
                    )));
                }
                let value = t
                    .remove("value")
                    .ok_or_else(|| D::Error::custom("a filter table needs `value`"))?;
                let operator = match t.remove("operator") {
                    None => Operator::Equals,
                    Some(o) => Operator::deserialize(o).map_err(|_| {
                        D::Error::custom("`operator` must be \"Equals\" or \"NotEquals\"")
                    })?,
                };
                let value = T::deserialize(value).map_err(D::Error::custom)?;
                Ok(Pattern { operator, value })
            }
            plain => Ok(Pattern {
                operator: Operator::Equals,
                value: T::deserialize(plain).map_err(D::Error::custom)?,
            }),
        }
    }
}

impl<T: Serialize> Serialize for Pattern<T> {
    /// Always the table form, so a dumped configuration parses back to the same rule.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Pattern", 2)?;
        st.serialize_field("operator", &self.operator)?;
        st.serialize_field("value", &self.value)?;
        st.end()
    }
}

/// An integer filter value: `volume`, `peer-node-id`, `promotion-score` (the spec's i32). Wider
/// than the unsigned field it is compared with, so a configuration the original loads (a
/// negative value, which no field ever has) loads here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Int(pub i64);

impl PartialEq<u32> for Int {
    fn eq(&self, other: &u32) -> bool {
        self.0 == i64::from(*other)
    }
}

/// True if the filter is unset ("don't care") or matches.
pub fn holds<T: PartialEq<U>, U: ?Sized>(filter: &Option<Pattern<T>>, actual: &U) -> bool {
    filter.as_ref().is_none_or(|p| p.matches(actual))
}
