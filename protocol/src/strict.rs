//! Strict reading of the MessagePack subset frames use, mirrored by
//! web-client/src/protocol/msgpack.ts.
//!
//! rmp-serde (through serde) is lenient: it reads a `bin` into a `String`, a
//! string or an array of integers into bytes, an array into a struct, and
//! integers of any size. Rather than fork it, decoding runs three cheap,
//! allocation-free passes around it:
//!
//! 1. [`check_value`] walks the raw bytes once: exactly one value, no floats,
//!    extension types or reserved bytes, string map keys only, no repeated
//!    key, at most [`MAX_MAP_ENTRIES`] entries per map, nesting at most
//!    [`MAX_DEPTH`], valid UTF-8, every integer below 2^53.
//! 2. serde decodes the frame type.
//! 3. [`same_shape`] walks the input beside the frame's own re-encoding and
//!    refuses any value whose MessagePack kind differs from what the type
//!    writes there (bin for string, array for map, ...). Keys the type does not
//!    write (unknown fields, defaults) are not compared.
//!
//! Each pass is linear in the frame's length and keeps at most one map's keys
//! (≤ [`MAX_MAP_ENTRIES`], on the stack) per nesting level.

/// Frames are flat; anything nested deeper is hostile. The top value is depth 0.
pub const MAX_DEPTH: usize = 16;

/// Frame maps are structs of a few fields; more entries than this is hostile.
pub const MAX_MAP_ENTRIES: usize = 64;

/// Integers are unsigned and stay below 2^53, so JavaScript numbers hold them.
pub const MAX_INTEGER: u64 = (1 << 53) - 1;

/// The head of one MessagePack value: scalars whole, containers by length.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Head<'a> {
    Nil,
    Bool,
    /// Non-negative integer.
    Uint(u64),
    /// Negative integer.
    Neg,
    Str(&'a str),
    Bin,
    Array(usize),
    Map(usize),
}

impl Head<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Head::Nil => "nil",
            Head::Bool => "a boolean",
            Head::Uint(_) | Head::Neg => "an integer",
            Head::Str(_) => "a string",
            Head::Bin => "bytes",
            Head::Array(_) => "an array",
            Head::Map(_) => "a map",
        }
    }
}

/// A cursor over MessagePack bytes. Every read is bounds-checked.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err("unexpected end of input".into());
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn be(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn len(&mut self, n: usize) -> Result<usize, String> {
        usize::try_from(self.be(n)?).map_err(|_| "length out of range".to_string())
    }

    fn str(&mut self, n: usize) -> Result<Head<'a>, String> {
        let raw = self.take(n)?;
        std::str::from_utf8(raw)
            .map(Head::Str)
            .map_err(|_| "string is not valid UTF-8".to_string())
    }

    fn bin(&mut self, n: usize) -> Result<Head<'a>, String> {
        self.take(n).map(|_| Head::Bin)
    }

    fn array(&self, n: usize) -> Result<Head<'a>, String> {
        // Each element takes at least one byte: refuse absurd lengths up front.
        if n > self.remaining() {
            return Err("unexpected end of input".into());
        }
        Ok(Head::Array(n))
    }

    fn map(&self, n: usize) -> Result<Head<'a>, String> {
        if n > MAX_MAP_ENTRIES {
            return Err(format!("map of {n} entries; frames use at most {MAX_MAP_ENTRIES}"));
        }
        if n * 2 > self.remaining() {
            return Err("unexpected end of input".into());
        }
        Ok(Head::Map(n))
    }

    fn neg(&self, value: i64) -> Result<Head<'a>, String> {
        // As the browser: a negative integer beyond a JavaScript number's exact range is unreadable.
        if value < -(MAX_INTEGER as i64) {
            return Err("integer out of range".into());
        }
        Ok(Head::Neg)
    }

    /// Read one value's head; a container's contents follow it.
    pub(crate) fn head(&mut self) -> Result<Head<'a>, String> {
        let b = self.take(1)?[0];
        match b {
            0x00..=0x7f => Ok(Head::Uint(u64::from(b))),
            0x80..=0x8f => self.map(usize::from(b & 0x0f)),
            0x90..=0x9f => self.array(usize::from(b & 0x0f)),
            0xa0..=0xbf => self.str(usize::from(b & 0x1f)),
            0xc0 => Ok(Head::Nil),
            0xc2 | 0xc3 => Ok(Head::Bool),
            0xc4 => {
                let n = self.len(1)?;
                self.bin(n)
            }
            0xc5 => {
                let n = self.len(2)?;
                self.bin(n)
            }
            0xc6 => {
                let n = self.len(4)?;
                self.bin(n)
            }
            0xcc => Ok(Head::Uint(self.be(1)?)),
            0xcd => Ok(Head::Uint(self.be(2)?)),
            0xce => Ok(Head::Uint(self.be(4)?)),
            0xcf => Ok(Head::Uint(self.be(8)?)),
            0xd0 => {
                let v = self.take(1)?[0] as i8;
                self.signed(i64::from(v))
            }
            0xd1 => {
                let v = self.be(2)? as u16 as i16;
                self.signed(i64::from(v))
            }
            0xd2 => {
                let v = self.be(4)? as u32 as i32;
                self.signed(i64::from(v))
            }
            0xd3 => {
                let v = self.be(8)? as i64;
                self.signed(v)
            }
            0xd9 => {
                let n = self.len(1)?;
                self.str(n)
            }
            0xda => {
                let n = self.len(2)?;
                self.str(n)
            }
            0xdb => {
                let n = self.len(4)?;
                self.str(n)
            }
            0xdc => {
                let n = self.len(2)?;
                self.array(n)
            }
            0xdd => {
                let n = self.len(4)?;
                self.array(n)
            }
            0xde => {
                let n = self.len(2)?;
                self.map(n)
            }
            0xdf => {
                let n = self.len(4)?;
                self.map(n)
            }
            0xe0..=0xff => Ok(Head::Neg),
            0xca | 0xcb => Err("floating-point numbers are not used by the protocol".into()),
            0xc1 => Err("reserved byte 0xc1".into()),
            // 0xc7-0xc9 and 0xd4-0xd8.
            _ => Err("extension types are not used by the protocol".into()),
        }
    }

    /// Signed encodings of non-negative values are integers like any other.
    fn signed(&self, v: i64) -> Result<Head<'a>, String> {
        match u64::try_from(v) {
            Ok(u) => Ok(Head::Uint(u)),
            Err(_) => self.neg(v),
        }
    }

    /// Read a map key: always a string.
    fn key(&mut self) -> Result<&'a str, String> {
        match self.head()? {
            Head::Str(s) => Ok(s),
            other => Err(format!("map key is {}, not a string", other.kind())),
        }
    }

    /// Read (and check) one whole value. `big_ints` says whether integers
    /// of 2^53 and above are read (the probe reads them) or refused.
    pub(crate) fn value(&mut self, depth: usize, big_ints: bool) -> Result<Head<'a>, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let head = self.head()?;
        match head {
            Head::Uint(v) if v > MAX_INTEGER && !big_ints => {
                return Err(format!("integer {v} is 2^53 or more, which the protocol never uses"));
            }
            Head::Array(n) => {
                for _ in 0..n {
                    self.value(depth + 1, big_ints)?;
                }
            }
            Head::Map(n) => {
                let mut keys = [""; MAX_MAP_ENTRIES];
                for slot in keys.iter_mut().take(n) {
                    if depth + 1 > MAX_DEPTH {
                        return Err("nested too deeply".into());
                    }
                    *slot = self.key()?;
                    self.value(depth + 1, big_ints)?;
                }
                let keys = &mut keys[..n];
                keys.sort_unstable();
                if let Some(pair) = keys.windows(2).find(|w| w[0] == w[1]) {
                    return Err(format!("duplicate field `{}`", truncate(pair[0], 40)));
                }
            }
            _ => {}
        }
        Ok(head)
    }
}

/// Pass 1: `bytes` hold exactly one value of the frame subset, every
/// integer below 2^53.
pub(crate) fn check_value(bytes: &[u8]) -> Result<(), String> {
    let mut r = Reader::new(bytes);
    r.value(0, false)?;
    if !r.at_end() {
        return Err("trailing bytes after the frame".into());
    }
    Ok(())
}

/// Pass 3: every value of `input` that `canonical` (the decoded frame
/// encoded again) also has, at the same place, is of the same kind. Both
/// have passed [`check_value`] (the canonical one by construction).
pub(crate) fn same_shape(input: &[u8], canonical: &[u8]) -> Result<(), String> {
    compare(&mut Reader::new(input), &mut Reader::new(canonical), 0)
}

fn compare(input: &mut Reader<'_>, canonical: &mut Reader<'_>, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    let (got, want) = (input.head()?, canonical.head()?);
    match (got, want) {
        (Head::Map(n), Head::Map(m)) => {
            if m > MAX_MAP_ENTRIES {
                return Err("frame type with too many fields".into());
            }
            // Where each canonical field's value starts, to compare it when the input has the key.
            let mut fields: [(&str, usize); MAX_MAP_ENTRIES] = [("", 0); MAX_MAP_ENTRIES];
            for slot in fields.iter_mut().take(m) {
                let key = canonical.key()?;
                *slot = (key, canonical.pos);
                canonical.value(depth + 1, true)?;
            }
            let fields = &fields[..m];
            for _ in 0..n {
                let key = input.key()?;
                match fields.iter().find(|(name, _)| *name == key) {
                    Some(&(_, at)) => {
                        let mut want = Reader {
                            pos: at,
                            ..canonical.clone()
                        };
                        compare(input, &mut want, depth + 1).map_err(|e| format!("{key}{}", nest(&e)))?;
                    }
                    None => {
                        input.value(depth + 1, true)?;
                    }
                }
            }
            Ok(())
        }
        (Head::Array(n), Head::Array(m)) => {
            if n != m {
                return Err(format!(": {n} items where the frame has {m}"));
            }
            for i in 0..n {
                compare(input, canonical, depth + 1).map_err(|e| format!("[{i}]{}", nest(&e)))?;
            }
            Ok(())
        }
        (Head::Nil, Head::Nil)
        | (Head::Bool, Head::Bool)
        | (Head::Uint(_) | Head::Neg, Head::Uint(_) | Head::Neg)
        | (Head::Str(_), Head::Str(_))
        | (Head::Bin, Head::Bin) => Ok(()),
        (got, want) => Err(format!(": invalid type: {}, expected {}", got.kind(), want.kind())),
    }
}

/// Join a path step to the rest of an error: `a` + `.b: …` or `a` + `: …`.
fn nest(rest: &str) -> String {
    if rest.starts_with(':') || rest.starts_with('[') {
        rest.to_string()
    } else {
        format!(".{rest}")
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// What a bad frame tells about itself, to answer it usefully: read with the
/// rules of [`check_value`] except that big integers are read. Each field is
/// taken only when it has its type (`v` a u16, `id` an integer below 2^53,
/// `req` a map whose `op` is a string); otherwise it counts as absent.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Probe {
    pub v: Option<u16>,
    pub id: Option<u64>,
    pub op: Option<String>,
}

/// `None` when the bytes do not start with a readable map.
pub(crate) fn probe(bytes: &[u8]) -> Option<Probe> {
    // The whole first value must be readable, as in the browser's probe.
    Reader::new(bytes).value(0, true).ok()?;
    let mut r = Reader::new(bytes);
    let Ok(Head::Map(n)) = r.head() else {
        return None;
    };
    let mut out = Probe::default();
    for _ in 0..n {
        let key = r.key().ok()?;
        let start = r.clone();
        let head = r.value(1, true).ok()?;
        match (key, head) {
            ("v", Head::Uint(v)) => out.v = u16::try_from(v).ok(),
            ("id", Head::Uint(id)) if id <= MAX_INTEGER => out.id = Some(id),
            ("req", Head::Map(_)) => out.op = operation(start),
            _ => {}
        }
    }
    Some(out)
}

/// `req.op` when it is a string; `req` starts at the reader.
fn operation(mut req: Reader<'_>) -> Option<String> {
    let Ok(Head::Map(n)) = req.head() else {
        return None;
    };
    for _ in 0..n {
        let key = req.key().ok()?;
        let head = req.value(2, true).ok()?;
        if let ("op", Head::Str(op)) = (key, head) {
            return Some(op.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_at_the_limit() {
        assert!(check_value(&[0xcf, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_ok());
        assert!(check_value(&[0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(check_value(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        // A signed encoding of a small value is fine; of -2^53 is not readable.
        assert!(check_value(&[0xd3, 0, 0, 0, 0, 0, 0, 0, 5]).is_ok());
        assert!(check_value(&[0xd3, 0xff, 0xe0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn map_rules() {
        // {"a": 1, "a": 2}
        assert!(check_value(&[0x82, 0xa1, b'a', 1, 0xa1, b'a', 2])
            .unwrap_err()
            .contains("duplicate"));
        // {1: 1}
        assert!(check_value(&[0x81, 1, 1]).unwrap_err().contains("key"));
        // 65 entries
        let mut big = vec![0xde, 0, 65];
        for i in 0..65u8 {
            big.extend_from_slice(&[0xa2, b'k', b'0' + i, 0xc0]);
        }
        assert!(check_value(&big).unwrap_err().contains("at most"));
    }

    #[test]
    fn shapes_compare_by_kind() {
        // {"a": bin} against {"a": "x"}
        let err = same_shape(&[0x81, 0xa1, b'a', 0xc4, 1, b'x'], &[0x81, 0xa1, b'a', 0xa1, b'x']).unwrap_err();
        assert_eq!(err, "a: invalid type: bytes, expected a string");
        // unknown keys are not compared
        assert!(same_shape(&[0x82, 0xa1, b'z', 0xc0, 0xa1, b'a', 1], &[0x81, 0xa1, b'a', 2]).is_ok());
        // [1] against {"a": 1}
        assert!(same_shape(&[0x91, 1], &[0x81, 0xa1, b'a', 1]).is_err());
    }

    #[test]
    fn probe_reads_fields_separately() {
        // {"id": 5, "v": "1", "req": ["ping"]}
        let bytes = [
            0x83, 0xa2, b'i', b'd', 5, 0xa1, b'v', 0xa1, b'1', 0xa3, b'r', b'e', b'q', 0x91, 0xa4, b'p', b'i', b'n',
            b'g',
        ];
        assert_eq!(
            probe(&bytes),
            Some(Probe {
                v: None,
                id: Some(5),
                op: None
            })
        );
        assert_eq!(probe(&[0x93, 1, 2, 3]), None);
    }
}
