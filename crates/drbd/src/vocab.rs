//! DRBD's value vocabularies (events2 spec §2.6), parsed once at the edge into enums and
//! printed back with drbdsetup's exact spelling.
//!
//! Must never: accept a spelling drbdsetup does not print (no case folding), lose the `?`
//! drbdsetup prints for a state number it has no name for (kept as `OutOfRange`), or fail on
//! a spelling a newer kernel adds: [`Lenient`] maps it to the out-of-range value (enums) or
//! the `other` flag (flag lists), so one unknown word never makes an object vanish.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that is not in the vocabulary of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub vocabulary: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a {}", self.value, self.vocabulary)
    }
}

impl std::error::Error for UnknownValue {}

/// Parsing that never fails: a value this version does not know becomes the vocabulary's
/// "unknown" value, and the caller learns that it did (to record the original token).
pub trait Lenient: Sized {
    /// The value of `s`, and whether all of `s` was known.
    fn lenient(s: &str) -> (Self, bool);
}

/// Declares a closed vocabulary: each variant with its exact events2 spelling.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal, default $default:ident, { $($variant:ident = $text:literal),+ $(,)? }) => {
        vocabulary!($(#[$meta])* $name, $what, { $($variant = $text),+ });

        impl Default for $name {
            /// What an object has before any line reported this value.
            fn default() -> Self {
                $name::$default
            }
        }
    };
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in DRBD's own order (the order enum metrics use).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact spelling drbdsetup prints.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The value spelt `s`, if any (the parser's hot path: no error to build).
            #[inline(always)]
            pub fn from_text(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                $name::from_text(s).ok_or_else(|| UnknownValue { vocabulary: $what, value: s.to_string() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// State vocabularies have an out-of-range value (`?`); an unknown spelling maps to it.
macro_rules! lenient_out_of_range {
    ($($name:ident),+) => {
        $(
            impl Lenient for $name {
                #[inline(always)]
                fn lenient(s: &str) -> (Self, bool) {
                    match $name::from_text(s) {
                        Some(v) => (v, true),
                        None => ($name::OutOfRange, false),
                    }
                }
            }
        )+
    };
}

vocabulary!(
    /// Local role of a resource, or the role of a peer (`Unknown` while not connected).
    Role, "role", default Unknown, {
        Unknown = "Unknown",
        Primary = "Primary",
        Secondary = "Secondary",
        OutOfRange = "?",
    }
);

vocabulary!(
    /// Disk state of a local volume (`disk`) or of a peer's volume (`peer-disk`).
    DiskState, "disk state", default DUnknown, {
        Diskless = "Diskless",
        Attaching = "Attaching",
        Detaching = "Detaching",
        Failed = "Failed",
        Negotiating = "Negotiating",
        Inconsistent = "Inconsistent",
        Outdated = "Outdated",
        DUnknown = "DUnknown",
        Consistent = "Consistent",
        UpToDate = "UpToDate",
        OutOfRange = "?",
    }
);

vocabulary!(
    /// State of the connection to one peer.
    ConnectionState, "connection state", default StandAlone, {
        StandAlone = "StandAlone",
        Disconnecting = "Disconnecting",
        Unconnected = "Unconnected",
        Timeout = "Timeout",
        BrokenPipe = "BrokenPipe",
        NetworkFailure = "NetworkFailure",
        ProtocolError = "ProtocolError",
        TearDown = "TearDown",
        Connecting = "Connecting",
        Connected = "Connected",
        OutOfRange = "?",
    }
);

vocabulary!(
    /// Replication state of one volume towards one peer.
    ReplicationState, "replication state", default Off, {
        Off = "Off",
        Established = "Established",
        StartingSyncS = "StartingSyncS",
        StartingSyncT = "StartingSyncT",
        WFBitMapS = "WFBitMapS",
        WFBitMapT = "WFBitMapT",
        WFSyncUUID = "WFSyncUUID",
        SyncSource = "SyncSource",
        SyncTarget = "SyncTarget",
        VerifyS = "VerifyS",
        VerifyT = "VerifyT",
        PausedSyncS = "PausedSyncS",
        PausedSyncT = "PausedSyncT",
        Ahead = "Ahead",
        Behind = "Behind",
        OutOfRange = "?",
    }
);

vocabulary!(
    /// The disk write-ordering method of a resource.
    WriteOrdering, "write ordering", default None, {
        None = "none",
        Drain = "drain",
        Flush = "flush",
        Barrier = "barrier",
    }
);

vocabulary!(
    /// `yes`/`no`/`unknown`: `client`, `peer-client`, `open` (kernels that do not report the
    /// flag make drbdsetup print `unknown`).
    Tristate, "yes/no/unknown", default No, {
        Yes = "yes",
        No = "no",
        Unknown = "unknown",
    }
);

lenient_out_of_range!(Role, DiskState, ConnectionState, ReplicationState);

impl Tristate {
    /// True only for `yes`: an unreported flag is not taken as set (the original's lenient
    /// booleans made `open:unknown` look open, quirk Q4).
    pub const fn is_yes(self) -> bool {
        matches!(self, Tristate::Yes)
    }
}

impl From<bool> for Tristate {
    fn from(b: bool) -> Self {
        if b {
            Tristate::Yes
        } else {
            Tristate::No
        }
    }
}

impl ReplicationState {
    /// Resync states, in which the `done`/`eta` progress keys are printed.
    pub const fn is_resync(self) -> bool {
        matches!(
            self,
            ReplicationState::SyncSource
                | ReplicationState::SyncTarget
                | ReplicationState::PausedSyncS
                | ReplicationState::PausedSyncT
        )
    }

    /// Online-verify states.
    pub const fn is_verify(self) -> bool {
        matches!(self, ReplicationState::VerifyS | ReplicationState::VerifyT)
    }
}

/// Parses the `yes`/`no` booleans of events2. `true`/`false` are accepted as well, since the
/// original accepted them and some captures use them.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// The spelling drbdsetup uses for a boolean.
pub const fn bool_str(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Declares a comma-list flag set printed as `no` when empty (e.g. `suspended:user,quorum`).
///
/// `other` stands for any flag this version does not know (a newer kernel's reason); it
/// counts as set, is printed as `other`, and appears in the serde form only when set.
macro_rules! flag_set {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($field:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        pub struct $name {
            $(pub $field: bool,)+
            /// A flag this version does not know (the line keeps its spelling). Left out of
            /// the serde form while false, so the JSON of known flags is unchanged.
            #[serde(default, skip_serializing_if = "is_false")]
            pub other: bool,
        }

        impl $name {
            /// True if any reason is set (an unknown one too).
            pub const fn any(&self) -> bool {
                self.other $(|| self.$field)+
            }
        }

        impl Lenient for $name {
            /// Known flags are set by name; any other word (or an empty list) sets `other`.
            #[inline(always)]
            fn lenient(s: &str) -> (Self, bool) {
                let mut set = $name::default();
                // `false` too: the spec's readers (prometheus, agentx) take both for "none".
                if s == "no" || s == "false" {
                    return (set, true);
                }
                if s.is_empty() {
                    set.other = true;
                    return (set, false);
                }
                for part in s.split(',') {
                    match part {
                        $($text => set.$field = true,)+
                        _ => set.other = true,
                    }
                }
                (set, !set.other)
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                let mut set = $name::default();
                if s == "no" || s == "false" {
                    return Ok(set);
                }
                if s.is_empty() {
                    return Err(UnknownValue { vocabulary: $what, value: String::new() });
                }
                for part in s.split(',') {
                    match part {
                        $($text => set.$field = true,)+
                        _ => return Err(UnknownValue { vocabulary: $what, value: s.to_string() }),
                    }
                }
                Ok(set)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if !self.any() {
                    return f.write_str("no");
                }
                let mut first = true;
                $(
                    if self.$field {
                        if !first { f.write_str(",")?; }
                        f.write_str($text)?;
                        first = false;
                    }
                )+
                if self.other {
                    if !first { f.write_str(",")?; }
                    f.write_str("other")?;
                }
                Ok(())
            }
        }
    };
}

flag_set!(
    /// Why I/O of a resource is suspended (`suspended`).
    Suspended, "suspension list", {
        user = "user",
        no_data = "no-data",
        fencing = "fencing",
        quorum = "quorum",
    }
);

flag_set!(
    /// Why a resync is suspended (`resync-suspended`).
    ResyncSuspended, "resync suspension list", {
        user = "user",
        peer = "peer",
        dependency = "dependency",
        max_parallel = "max-parallel",
    }
);

flag_set!(
    /// Where I/O of a device is blocked (`blocked`).
    Blocked, "blocked list", {
        upper = "upper",
        lower = "lower",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vocabulary_value_round_trips_through_its_spelling() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), *r);
        }
        for d in DiskState::ALL {
            assert_eq!(d.as_str().parse::<DiskState>().unwrap(), *d);
        }
        for c in ConnectionState::ALL {
            assert_eq!(c.as_str().parse::<ConnectionState>().unwrap(), *c);
        }
        for r in ReplicationState::ALL {
            assert_eq!(r.as_str().parse::<ReplicationState>().unwrap(), *r);
        }
    }

    #[test]
    fn vocabulary_rejects_other_case() {
        assert!("primary".parse::<Role>().is_err());
        assert!("uptodate".parse::<DiskState>().is_err());
    }

    #[test]
    fn question_mark_is_an_out_of_range_state_not_an_error() {
        assert_eq!("?".parse::<DiskState>().unwrap(), DiskState::OutOfRange);
        assert_eq!(
            "?".parse::<ConnectionState>().unwrap(),
            ConnectionState::OutOfRange
        );
    }

    #[test]
    fn suspension_lists_parse_and_print_in_drbd_order() {
        let s: Suspended = "user,quorum".parse().unwrap();
        assert!(s.user && s.quorum && !s.no_data && !s.fencing);
        assert_eq!(s.to_string(), "user,quorum");
        assert_eq!("no".parse::<Suspended>().unwrap(), Suspended::default());
        assert_eq!(Suspended::default().to_string(), "no");
        assert!("bogus".parse::<Suspended>().is_err());
        assert!("".parse::<Suspended>().is_err());
        let r: ResyncSuspended = "peer,max-parallel".parse().unwrap();
        assert_eq!(r.to_string(), "peer,max-parallel");
        let b: Blocked = "upper,lower".parse().unwrap();
        assert_eq!(b.to_string(), "upper,lower");
    }

    #[test]
    fn booleans_are_yes_no_or_true_false_and_nothing_else() {
        assert_eq!(parse_bool("yes"), Some(true));
        assert_eq!(parse_bool("no"), Some(false));
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("false"), Some(false));
        assert_eq!(parse_bool("Yes"), None);
        assert_eq!(parse_bool("user"), None);
        assert_eq!(parse_bool(""), None);
    }
}
