//! RFC 2741 §5 data encodings: object identifiers, octet strings, values, varbinds and search
//! ranges, in either byte order.
//!
//! Must never: panic or allocate without bound on hostile input (every length is checked
//! against the bytes that are really there).

use std::fmt;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    Truncated,
    /// A field holds a value the protocol does not allow.
    Invalid(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated AgentX PDU"),
            DecodeError::Invalid(what) => write!(f, "invalid AgentX PDU: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A reader over a PDU body in the byte order its header announced.
pub struct Reader<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], big_endian: bool) -> Self {
        Reader { bytes, big_endian }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b: [u8; 2] = self.take(2)?.try_into().expect("two bytes");
        Ok(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b: [u8; 4] = self.take(4)?.try_into().expect("four bytes");
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let b: [u8; 8] = self.take(8)?.try_into().expect("eight bytes");
        Ok(if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    /// An octet string: length, data, padding to a multiple of four.
    pub fn octets(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.u32()? as usize;
        let data = self.take(len)?.to_vec();
        self.take(pad(len))?;
        Ok(data)
    }

    /// An object identifier with its `include` flag.
    pub fn oid(&mut self) -> Result<(Oid, bool), DecodeError> {
        let n_subid = self.u8()? as usize;
        let prefix = self.u8()?;
        let include = match self.u8()? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::Invalid("include flag")),
        };
        self.u8()?;
        if n_subid > 128 {
            return Err(DecodeError::Invalid("more than 128 sub-identifiers"));
        }
        let mut ids = Vec::with_capacity(n_subid + 5);
        if prefix != 0 {
            ids.extend_from_slice(&[1, 3, 6, 1, u32::from(prefix)]);
        }
        for _ in 0..n_subid {
            ids.push(self.u32()?);
        }
        Ok((Oid(ids), include))
    }

    pub fn search_range(&mut self) -> Result<SearchRange, DecodeError> {
        let (start, include) = self.oid()?;
        let (end, _) = self.oid()?;
        Ok(SearchRange {
            start,
            include,
            end,
        })
    }

    pub fn varbind(&mut self) -> Result<VarBind, DecodeError> {
        let ty = self.u16()?;
        self.u16()?;
        let (name, _) = self.oid()?;
        let value = match ty {
            2 => Value::Integer(self.u32()? as i32),
            4 => Value::OctetString(self.octets()?),
            5 => Value::Null,
            6 => Value::ObjectIdentifier(self.oid()?.0),
            64 => {
                let o = self.octets()?;
                let a: [u8; 4] = o
                    .as_slice()
                    .try_into()
                    .map_err(|_| DecodeError::Invalid("IpAddress length"))?;
                Value::IpAddress(a)
            }
            65 => Value::Counter32(self.u32()?),
            66 => Value::Gauge32(self.u32()?),
            67 => Value::TimeTicks(self.u32()?),
            68 => Value::Opaque(self.octets()?),
            70 => Value::Counter64(self.u64()?),
            128 => Value::NoSuchObject,
            129 => Value::NoSuchInstance,
            130 => Value::EndOfMibView,
            _ => return Err(DecodeError::Invalid("value type")),
        };
        Ok(VarBind { name, value })
    }
}

/// Padding after an octet string of `len` bytes.
pub const fn pad(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// A writer producing network byte order (the subagent always sets NETWORK_BYTE_ORDER).
#[derive(Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub fn octets(&mut self, data: &[u8]) {
        self.u32(data.len() as u32);
        self.bytes.extend_from_slice(data);
        self.bytes.extend(std::iter::repeat_n(0, pad(data.len())));
    }
    /// Writes an OID, using the 1.3.6.1.X prefix compression when it applies.
    pub fn oid(&mut self, oid: &Oid, include: bool) {
        let ids = &oid.0;
        let (prefix, rest) = match ids.as_slice() {
            [1, 3, 6, 1, p, rest @ ..] if (1..=255).contains(p) => (*p as u8, rest),
            _ => (0, ids.as_slice()),
        };
        self.u8(rest.len() as u8);
        self.u8(prefix);
        self.u8(u8::from(include));
        self.u8(0);
        for id in rest {
            self.u32(*id);
        }
    }
    pub fn search_range(&mut self, r: &SearchRange) {
        self.oid(&r.start, r.include);
        self.oid(&r.end, false);
    }
    pub fn varbind(&mut self, vb: &VarBind) {
        self.u16(vb.value.type_code());
        self.u16(0);
        self.oid(&vb.name, false);
        match &vb.value {
            Value::Integer(i) => self.u32(*i as u32),
            Value::OctetString(o) | Value::Opaque(o) => self.octets(o),
            Value::ObjectIdentifier(o) => self.oid(o, false),
            Value::IpAddress(a) => self.octets(a),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => self.u32(*v),
            Value::Counter64(v) => self.u64(*v),
            Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {}
        }
    }
}

/// An object identifier; the empty OID is the null OID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(pub Vec<u32>);

impl Oid {
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }
    pub fn is_null(&self) -> bool {
        self.0.is_empty()
    }
    /// A copy with `ids` appended.
    pub fn child(&self, ids: &[u32]) -> Oid {
        let mut v = self.0.clone();
        v.extend_from_slice(ids);
        Oid(v)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Oid {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix('.').unwrap_or(s);
        if s.is_empty() {
            return Ok(Oid::default());
        }
        s.split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(Oid)
    }
}

/// A value of a varbind (RFC 2741 §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i32),
    OctetString(Vec<u8>),
    Null,
    ObjectIdentifier(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl Value {
    pub const fn type_code(&self) -> u16 {
        match self {
            Value::Integer(_) => 2,
            Value::OctetString(_) => 4,
            Value::Null => 5,
            Value::ObjectIdentifier(_) => 6,
            Value::IpAddress(_) => 64,
            Value::Counter32(_) => 65,
            Value::Gauge32(_) => 66,
            Value::TimeTicks(_) => 67,
            Value::Opaque(_) => 68,
            Value::Counter64(_) => 70,
            Value::NoSuchObject => 128,
            Value::NoSuchInstance => 129,
            Value::EndOfMibView => 130,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarBind {
    pub name: Oid,
    pub value: Value,
}

impl Oid {
    /// Bytes of its encoding (with the 1.3.6.1.X prefix compression when it applies).
    pub fn encoded_len(&self) -> usize {
        let n = match self.0.as_slice() {
            [1, 3, 6, 1, p, rest @ ..] if (1..=255).contains(p) => rest.len(),
            ids => ids.len(),
        };
        4 + 4 * n
    }
}

impl VarBind {
    /// Bytes of its encoding, as [`Writer::varbind`] writes it.
    pub fn encoded_len(&self) -> usize {
        let octets = |len: usize| 4 + len + pad(len);
        4 + self.name.encoded_len()
            + match &self.value {
                Value::Integer(_)
                | Value::Counter32(_)
                | Value::Gauge32(_)
                | Value::TimeTicks(_) => 4,
                Value::Counter64(_) => 8,
                Value::OctetString(o) | Value::Opaque(o) => octets(o.len()),
                Value::IpAddress(a) => octets(a.len()),
                Value::ObjectIdentifier(o) => o.encoded_len(),
                Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {
                    0
                }
            }
    }
}

/// A range of OIDs a Get/GetNext/GetBulk asks about: from `start` (inclusive if `include`)
/// up to `end` (exclusive; the null OID means unbounded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRange {
    pub start: Oid,
    pub include: bool,
    pub end: Oid,
}
