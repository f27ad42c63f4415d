//! The journal's canonical encoding: RFC 8785 (JSON Canonicalization Scheme, JCS) restricted to
//! an integer-only profile. This module owns the strict parser that verifiers run over untrusted
//! bytes, the canonical encoder whose output is hashed and signed, the canonicality check
//! (`check_canonical`) and the extraction of a JSONL line's member spans. It must never panic on
//! any input, never accept what the profile forbids (floats, integers outside ±(2^53−1),
//! duplicate keys, invalid UTF-8, lone surrogates, nesting deeper than [`MAX_DEPTH`]), never
//! recurse without the depth limit, and never re-serialise bytes that are to be verified: stored
//! canonical bytes are checked as they are, byte for byte.
//!
//! Profile summary: input is UTF-8 JSON text (RFC 8259) without a byte order mark; numbers are
//! integers within [`MAX_SAFE_INTEGER`] in magnitude (`-0` parses as 0 but is not canonical);
//! object keys are unique after unescaping. Canonical output has no whitespace, object members
//! sorted by their keys as arrays of UTF-16 code units, strings escaped as ECMAScript's
//! `JSON.stringify` does, and integers in plain decimal.

use std::cmp::Ordering;
use std::ops::Range;

/// The largest integer magnitude the profile admits: 2^53 − 1 (ECMAScript's
/// `Number.MAX_SAFE_INTEGER`). Integers are accepted in `-MAX_SAFE_INTEGER ..= MAX_SAFE_INTEGER`.
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// The deepest nesting of arrays and objects the parser accepts: a top-level array or object is
/// at depth 1, so 64 nested containers parse and 65 are rejected with [`CanonicalError::TooDeep`].
pub const MAX_DEPTH: usize = 64;

/// A JSON value under the profile.
///
/// Objects keep members in canonical order (sorted by their keys as UTF-16 code units, no
/// duplicates) once built by [`parse`] or [`Value::object`]. An `Object` built directly from the
/// variant may be in any order; [`encode`] still emits its members in canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer; values built by [`parse`] or [`from_json`] are within ±[`MAX_SAFE_INTEGER`].
    Int(i64),
    /// A string of Unicode scalar values (never a lone surrogate).
    String(String),
    /// An array, in document order.
    Array(Vec<Value>),
    /// An object's members as `(key, value)` pairs, in canonical order when built by [`parse`]
    /// or [`Value::object`].
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Builds an object from members in any order: sorts them by key (UTF-16 code units) and
    /// rejects a key given twice with [`CanonicalError::DuplicateKey`] (offset 0, as there is no
    /// document to point into).
    pub fn object(members: Vec<(String, Value)>) -> Result<Value, CanonicalError> {
        let mut members = members;
        if !is_sorted_unique(&members) {
            members = sort_members(members, &[])?;
        }
        Ok(Value::Object(members))
    }

    /// The value of the member named `key` if `self` is an object that has one; `None` for any
    /// other key or any other kind of value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why bytes or a value were refused. Every error about a document carries the byte offset in
/// that document where the problem was found; messages are lowercase fragments such as
/// `duplicate key "seq" at byte 41`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// Any JSON syntax problem, including invalid UTF-8, a byte order mark, a lone surrogate,
    /// an unescaped control character in a string and trailing data after the value.
    #[error("{reason} at byte {offset}")]
    Syntax {
        /// Byte offset of the problem in the input.
        offset: usize,
        /// What is wrong, as a lowercase fragment.
        reason: String,
    },
    /// A number with a fraction or an exponent (`1.0`, `1e2`).
    #[error("non-integer number at byte {offset}")]
    NonInteger {
        /// Byte offset of the number's first byte.
        offset: usize,
    },
    /// An integer outside ±[`MAX_SAFE_INTEGER`].
    #[error("integer out of range at byte {offset}")]
    OutOfRange {
        /// Byte offset of the number's first byte (0 for a value not parsed from bytes).
        offset: usize,
    },
    /// An object key that occurs twice (compared after unescaping).
    #[error("duplicate key {key:?} at byte {offset}")]
    DuplicateKey {
        /// Byte offset of the second occurrence's opening quote (0 for [`Value::object`]).
        offset: usize,
        /// The duplicated key, unescaped.
        key: String,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than 64 at byte {offset}")]
    TooDeep {
        /// Byte offset of the bracket that opens the container one level too deep (0 for a
        /// value not parsed from bytes).
        offset: usize,
    },
    /// Valid under the profile, but not byte-for-byte its canonical encoding.
    #[error("not canonical at byte {offset}: expected {expected:?}, found {found:?}")]
    NotCanonical {
        /// Offset of the first byte where the input and its canonical encoding differ.
        offset: usize,
        /// A short excerpt (at most 16 characters) of the canonical encoding around `offset`.
        expected: String,
        /// A short excerpt (at most 16 characters) of the input around `offset`.
        found: String,
    },
    /// A serde value held a floating-point number, which the profile does not admit.
    #[error("floating-point number not allowed")]
    Float,
}

/// Parses `bytes` as one JSON value under the profile. Whitespace (space, tab, line feed,
/// carriage return) is allowed around tokens; the bytes need not be canonical. Object members
/// come back in canonical order.
pub fn parse(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let mut parser = Parser::new(bytes)?;
    parser.document()
}

/// The RFC 8785 canonical bytes of `value`.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Appends the RFC 8785 canonical bytes of `value` to `out`.
///
/// Object members are written in canonical order even if an `Object` was built unsorted; an
/// integer outside the profile's range is written as its plain decimal all the same (such a
/// value cannot come from [`parse`] or [`from_json`]).
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    write_value(value, out);
}

/// Parses `bytes` and requires them to be exactly the canonical encoding of what they hold.
/// Returns the value, or the parse error, or [`CanonicalError::NotCanonical`] at the first byte
/// where `bytes` and `encode(parse(bytes))` differ.
pub fn check_canonical(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let value = parse(bytes)?;
    let mut cmp = Compare {
        input: bytes,
        pos: 0,
        mismatch: None,
    };
    write_value(&value, &mut cmp);
    let mismatch = match cmp.mismatch {
        Some(at) => Some(at),
        None if cmp.pos != bytes.len() => Some(cmp.pos),
        None => None,
    };
    match mismatch {
        None => Ok(value),
        Some(offset) => {
            let canonical = encode(&value);
            Err(CanonicalError::NotCanonical {
                offset,
                expected: excerpt(&canonical, offset),
                found: excerpt(bytes, offset),
            })
        }
    }
}

/// Converts a `serde_json` value. A float is [`CanonicalError::Float`]; an integer outside
/// ±[`MAX_SAFE_INTEGER`] is [`CanonicalError::OutOfRange`] and nesting deeper than
/// [`MAX_DEPTH`] is [`CanonicalError::TooDeep`], both at offset 0.
pub fn from_json(value: &serde_json::Value) -> Result<Value, CanonicalError> {
    from_json_at(value, 0)
}

/// Converts to a `serde_json` value (object member order then follows `serde_json`'s map).
pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(n) => serde_json::Value::Number((*n).into()),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Object(members) => {
            let mut map = serde_json::Map::new();
            for (k, v) in members {
                map.insert(k.clone(), to_json(v));
            }
            serde_json::Value::Object(map)
        }
    }
}

/// The canonical bytes of any serialisable value: `serde_json::to_value`, then [`from_json`],
/// then [`encode`]. A serialisation failure is [`CanonicalError::Syntax`] at offset 0.
pub fn to_canonical_bytes<T: serde::Serialize>(t: &T) -> Result<Vec<u8>, CanonicalError> {
    let json = serde_json::to_value(t).map_err(|e| CanonicalError::Syntax {
        offset: 0,
        reason: format!("serialisation failed: {e}"),
    })?;
    Ok(encode(&from_json(&json)?))
}

/// For a JSON object text (whitespace allowed, need not be canonical), each top-level member's
/// key and the byte range of its value in `bytes`, in document order. Validates the whole text
/// with the same strict rules as [`parse`] (duplicates rejected). Used to take a JSONL line's
/// `"event"` value verbatim without re-serialising it.
pub fn member_spans(bytes: &[u8]) -> Result<Vec<(String, Range<usize>)>, CanonicalError> {
    let mut parser = Parser::new(bytes)?;
    parser.spans = Some(Vec::new());
    parser.build = false;
    parser.skip_ws();
    if parser.peek() != Some(b'{') {
        return Err(match parser.peek() {
            None => parser.eof(),
            Some(_) => syntax(parser.pos, "expected an object"),
        });
    }
    parser.document()?;
    Ok(parser.spans.take().unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Parsing

fn syntax(offset: usize, reason: &str) -> CanonicalError {
    CanonicalError::Syntax {
        offset,
        reason: reason.to_string(),
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Offsets of the keys of every object being parsed, used as a stack: an object's keys sit
    /// above the index where it started and are truncated away when it closes.
    key_offsets: Vec<usize>,
    /// When set, the spans of the top-level object's members are recorded here.
    spans: Option<Vec<(String, Range<usize>)>>,
    /// Whether to build values. When false the text is validated just as strictly (keys are
    /// still decoded, to find duplicates) but string values and array items are not kept.
    build: bool,
    /// Reused buffer for decoding string values that are not kept.
    scratch: String,
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, CanonicalError> {
        if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            return Err(syntax(0, "byte order mark not allowed"));
        }
        let text =
            std::str::from_utf8(bytes).map_err(|e| syntax(e.valid_up_to(), "invalid utf-8"))?;
        Ok(Parser {
            text,
            bytes,
            pos: 0,
            key_offsets: Vec::new(),
            spans: None,
            build: true,
            scratch: String::new(),
        })
    }

    fn document(&mut self) -> Result<Value, CanonicalError> {
        self.skip_ws();
        let value = self.value(0)?;
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return Err(syntax(self.pos, "trailing data"));
        }
        Ok(value)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eof(&self) -> CanonicalError {
        syntax(self.bytes.len(), "unexpected end of input")
    }

    fn unexpected(&self) -> CanonicalError {
        match self
            .text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
        {
            Some(c) => CanonicalError::Syntax {
                offset: self.pos,
                reason: format!("unexpected character {c:?}"),
            },
            None => self.eof(),
        }
    }

    /// One value starting at `self.pos` (whitespace already skipped), inside `depth` containers.
    fn value(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        match self.peek() {
            None => Err(self.eof()),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') if self.build => Ok(Value::String(self.string(true)?)),
            Some(b'"') => {
                self.string(false)?;
                Ok(Value::Null)
            }
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.unexpected()),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, CanonicalError> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(value)
        } else {
            Err(syntax(self.pos, "invalid literal"))
        }
    }

    fn number(&mut self) -> Result<Value, CanonicalError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let mut magnitude: u64 = 0;
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(syntax(start, "leading zero in number"));
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(d @ b'0'..=b'9') = self.peek() {
                    magnitude = magnitude
                        .saturating_mul(10)
                        .saturating_add(u64::from(d - b'0'));
                    self.pos += 1;
                }
            }
            None => return Err(self.eof()),
            Some(_) => return Err(syntax(self.pos, "expected digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits("expected digit after decimal point")?;
            integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.digits("expected digit in exponent")?;
            integer = false;
        }
        if !integer {
            return Err(CanonicalError::NonInteger { offset: start });
        }
        if magnitude > MAX_SAFE_INTEGER as u64 {
            return Err(CanonicalError::OutOfRange { offset: start });
        }
        // In range, so the conversion is exact and the negation cannot overflow.
        let n = magnitude as i64;
        Ok(Value::Int(if negative { -n } else { n }))
    }

    /// One or more ASCII digits.
    fn digits(&mut self, reason: &str) -> Result<(), CanonicalError> {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(match self.peek() {
                None => self.eof(),
                Some(_) => syntax(self.pos, reason),
            });
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        if depth > MAX_DEPTH {
            return Err(CanonicalError::TooDeep { offset: self.pos });
        }
        self.pos += 1; // '['
        self.skip_ws();
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            let item = self.value(depth)?;
            if self.build {
                items.push(item);
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.eof()),
                Some(_) => return Err(syntax(self.pos, "expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        if depth > MAX_DEPTH {
            return Err(CanonicalError::TooDeep { offset: self.pos });
        }
        self.pos += 1; // '{'
        self.skip_ws();
        let mut members: Vec<(String, Value)> = Vec::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        let record = depth == 1 && self.spans.is_some();
        let base = self.key_offsets.len();
        let mut sorted = true;
        loop {
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.eof()),
                Some(_) => return Err(syntax(self.pos, "expected string key")),
            }
            let key_offset = self.pos;
            let key = self.string(true)?;
            self.skip_ws();
            match self.peek() {
                Some(b':') => self.pos += 1,
                None => return Err(self.eof()),
                Some(_) => return Err(syntax(self.pos, "expected ':'")),
            }
            self.skip_ws();
            let value_start = self.pos;
            let value = self.value(depth)?;
            if record {
                if let Some(spans) = self.spans.as_mut() {
                    spans.push((key.clone(), value_start..self.pos));
                }
            }
            if sorted {
                if let Some((last, _)) = members.last() {
                    sorted = cmp_utf16(last, &key) == Ordering::Less;
                }
            }
            self.key_offsets.push(key_offset);
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.eof()),
                Some(_) => return Err(syntax(self.pos, "expected ',' or '}'")),
            }
        }
        if !sorted {
            let offsets = self.key_offsets.get(base..).unwrap_or(&[]);
            members = sort_members(members, offsets)?;
        }
        self.key_offsets.truncate(base);
        Ok(Value::Object(members))
    }

    /// A string starting at the opening quote at `self.pos`; returns it unescaped if `keep`,
    /// else validates it and returns an empty string.
    fn string(&mut self, keep: bool) -> Result<String, CanonicalError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes, copied in one piece.
        loop {
            match self.peek() {
                None => return Err(syntax(open, "unterminated string")),
                Some(b'"') => {
                    let s = self.slice(start, self.pos)?;
                    self.pos += 1;
                    return Ok(if keep { s.to_string() } else { String::new() });
                }
                Some(b'\\') => break,
                Some(0x00..=0x1F) => {
                    return Err(syntax(self.pos, "unescaped control character in string"))
                }
                Some(_) => self.pos += 1,
            }
        }
        let mut out = if keep {
            String::with_capacity(self.pos - start + 16)
        } else {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            scratch
        };
        out.push_str(self.slice(start, self.pos)?);
        let mut run = self.pos;
        loop {
            match self.peek() {
                None => return Err(syntax(open, "unterminated string")),
                Some(b'"') => {
                    out.push_str(self.slice(run, self.pos)?);
                    self.pos += 1;
                    if keep {
                        return Ok(out);
                    }
                    self.scratch = out;
                    return Ok(String::new());
                }
                Some(b'\\') => {
                    out.push_str(self.slice(run, self.pos)?);
                    self.escape(&mut out)?;
                    run = self.pos;
                }
                Some(0x00..=0x1F) => {
                    return Err(syntax(self.pos, "unescaped control character in string"))
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// The text between two offsets that sit on ASCII bytes (so on character boundaries).
    fn slice(&self, from: usize, to: usize) -> Result<&'a str, CanonicalError> {
        self.text
            .get(from..to)
            .ok_or_else(|| syntax(from, "invalid utf-8"))
    }

    /// One escape sequence starting at the backslash at `self.pos`.
    fn escape(&mut self, out: &mut String) -> Result<(), CanonicalError> {
        let at = self.pos;
        self.pos += 1;
        let c = match self.peek() {
            None => return Err(self.eof()),
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let unit = self.hex4()?;
                let c = match unit {
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(syntax(at, "lone surrogate"));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(syntax(at, "lone surrogate"));
                        }
                        let cp = 0x10000
                            + ((u32::from(unit) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        char::from_u32(cp)
                    }
                    0xDC00..=0xDFFF => return Err(syntax(at, "lone surrogate")),
                    _ => char::from_u32(u32::from(unit)),
                };
                out.push(c.ok_or_else(|| syntax(at, "invalid \\u escape"))?);
                return Ok(());
            }
            Some(_) => return Err(syntax(at, "invalid escape")),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }

    /// Four hex digits at `self.pos`.
    fn hex4(&mut self) -> Result<u16, CanonicalError> {
        let mut unit: u16 = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                None => return Err(self.eof()),
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                Some(_) => return Err(syntax(self.pos, "invalid \\u escape")),
            };
            unit = (unit << 4) | u16::from(digit);
            self.pos += 1;
        }
        Ok(unit)
    }
}

/// Compares two strings as arrays of UTF-16 code units (RFC 8785 §3.2.3).
///
/// UTF-8 byte order equals code point order, which differs from UTF-16 order only where a
/// supplementary character (a surrogate pair in UTF-16) meets a BMP character above the
/// surrogates (U+E000..U+FFFF); so compare bytes, and decide at the first differing character.
fn cmp_utf16(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let common = x.iter().zip(y).take_while(|(p, q)| p == q).count();
    if common == x.len() || common == y.len() {
        return x.len().cmp(&y.len());
    }
    // Back up to the start of the character holding the first differing byte; the prefix is
    // shared, so this is a boundary in both strings.
    let mut start = common;
    while start > 0 && !a.is_char_boundary(start) {
        start -= 1;
    }
    let ca = a.get(start..).and_then(|s| s.chars().next());
    let cb = b.get(start..).and_then(|s| s.chars().next());
    match (ca, cb) {
        (Some(ca), Some(cb)) => utf16_key(ca).cmp(&utf16_key(cb)),
        _ => x.cmp(y),
    }
}

/// A character's UTF-16 code units as a sortable pair (a BMP character has no second unit).
fn utf16_key(c: char) -> (u32, u32) {
    let cp = u32::from(c);
    if cp < 0x10000 {
        (cp, 0)
    } else {
        let v = cp - 0x10000;
        (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
    }
}

fn is_sorted_unique(members: &[(String, Value)]) -> bool {
    members
        .windows(2)
        .all(|w| cmp_utf16(&w[0].0, &w[1].0) == Ordering::Less)
}

/// Sorts members by key and rejects duplicates, naming the first key (in the given order) that
/// repeats an earlier one; `offsets[i]` is where member `i`'s key starts (0 when unknown).
fn sort_members(
    members: Vec<(String, Value)>,
    offsets: &[usize],
) -> Result<Vec<(String, Value)>, CanonicalError> {
    let mut tagged: Vec<(usize, (String, Value))> = members.into_iter().enumerate().collect();
    // Stable: equal keys stay in document order, so the second of a pair is the later one.
    tagged.sort_by(|a, b| cmp_utf16(&a.1 .0, &b.1 .0));
    let mut first_dup: Option<(usize, &str)> = None;
    for w in tagged.windows(2) {
        if w[0].1 .0 == w[1].1 .0 {
            let later = w[1].0;
            if first_dup.is_none_or(|(i, _)| later < i) {
                first_dup = Some((later, &w[1].1 .0));
            }
        }
    }
    if let Some((i, key)) = first_dup {
        return Err(CanonicalError::DuplicateKey {
            offset: offsets.get(i).copied().unwrap_or(0),
            key: key.to_string(),
        });
    }
    Ok(tagged.into_iter().map(|(_, m)| m).collect())
}

fn from_json_at(value: &serde_json::Value, depth: usize) -> Result<Value, CanonicalError> {
    Ok(match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) {
                    return Err(CanonicalError::OutOfRange { offset: 0 });
                }
                Value::Int(i)
            } else if n.is_u64() {
                return Err(CanonicalError::OutOfRange { offset: 0 });
            } else {
                return Err(CanonicalError::Float);
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => {
            if depth + 1 > MAX_DEPTH {
                return Err(CanonicalError::TooDeep { offset: 0 });
            }
            Value::Array(
                items
                    .iter()
                    .map(|v| from_json_at(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        serde_json::Value::Object(map) => {
            if depth + 1 > MAX_DEPTH {
                return Err(CanonicalError::TooDeep { offset: 0 });
            }
            let members = map
                .iter()
                .map(|(k, v)| Ok((k.clone(), from_json_at(v, depth + 1)?)))
                .collect::<Result<Vec<_>, CanonicalError>>()?;
            Value::object(members)?
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Where encoded bytes go: a buffer, or a comparison against bytes that should be canonical.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Compares the encoding, as it is produced, with `input`, without buffering it.
struct Compare<'a> {
    input: &'a [u8],
    pos: usize,
    mismatch: Option<usize>,
}

impl Sink for Compare<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if self.mismatch.is_some() {
            return;
        }
        let rest = self.input.get(self.pos..).unwrap_or(&[]);
        if rest.starts_with(bytes) {
            self.pos += bytes.len();
        } else {
            let same = rest.iter().zip(bytes).take_while(|(a, b)| a == b).count();
            self.mismatch = Some(self.pos + same);
        }
    }
}

fn write_value<S: Sink>(value: &Value, out: &mut S) {
    match value {
        Value::Null => out.put(b"null"),
        Value::Bool(true) => out.put(b"true"),
        Value::Bool(false) => out.put(b"false"),
        Value::Int(n) => write_int(*n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.put(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                write_value(item, out);
            }
            out.put(b"]");
        }
        Value::Object(members) => {
            if members
                .windows(2)
                .all(|w| cmp_utf16(&w[0].0, &w[1].0) != Ordering::Greater)
            {
                write_members(members.iter(), out);
            } else {
                let mut order: Vec<&(String, Value)> = members.iter().collect();
                order.sort_by(|a, b| cmp_utf16(&a.0, &b.0));
                write_members(order.into_iter(), out);
            }
        }
    }
}

fn write_members<'v, S: Sink>(members: impl Iterator<Item = &'v (String, Value)>, out: &mut S) {
    out.put(b"{");
    for (i, (key, value)) in members.enumerate() {
        if i > 0 {
            out.put(b",");
        }
        write_string(key, out);
        out.put(b":");
        write_value(value, out);
    }
    out.put(b"}");
}

fn write_int<S: Sink>(n: i64, out: &mut S) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    out.put(&buf[at..]);
}

/// A string as ECMAScript's `JSON.stringify` writes it (RFC 8785 §3.2.2.2).
fn write_string<S: Sink>(s: &str, out: &mut S) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.put(b"\"");
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let unicode;
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0x00..=0x1F => {
                unicode = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xF)],
                ];
                &unicode
            }
            _ => continue,
        };
        out.put(&bytes[run..i]);
        out.put(escaped);
        run = i + 1;
    }
    out.put(&bytes[run..]);
    out.put(b"\"");
}

/// At most 16 bytes of `buf` around `offset`, cut at character boundaries.
fn excerpt(buf: &[u8], offset: usize) -> String {
    let is_boundary = |i: usize| buf.get(i).is_none_or(|&b| !(0x80..=0xBF).contains(&b));
    let mut start = offset.saturating_sub(6).min(buf.len());
    let mut end = start.saturating_add(16).min(buf.len());
    while start < end && !is_boundary(start) {
        start += 1;
    }
    while end > start && !is_boundary(end) {
        end -= 1;
    }
    String::from_utf8_lossy(&buf[start..end]).into_owned()
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn int(n: i64) -> Value {
        Value::Int(n)
    }
    fn s(text: &str) -> Value {
        Value::String(text.to_string())
    }
    fn obj(members: &[(&str, Value)]) -> Value {
        Value::object(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
        .unwrap()
    }
    fn canon(text: &str) -> Vec<u8> {
        encode(&parse(text.as_bytes()).unwrap())
    }
    fn offset_of(e: &CanonicalError) -> Option<usize> {
        match e {
            CanonicalError::Syntax { offset, .. }
            | CanonicalError::NonInteger { offset }
            | CanonicalError::OutOfRange { offset }
            | CanonicalError::DuplicateKey { offset, .. }
            | CanonicalError::TooDeep { offset }
            | CanonicalError::NotCanonical { offset, .. } => Some(*offset),
            CanonicalError::Float => None,
        }
    }
    fn syntax_reason(bytes: &[u8]) -> (usize, String) {
        match parse(bytes) {
            Err(CanonicalError::Syntax { offset, reason }) => (offset, reason),
            other => panic!("expected a syntax error for {bytes:?}, got {other:?}"),
        }
    }

    // --- RFC 8785's own examples ---------------------------------------------------------

    /// RFC 8785 §3.2.3: property sorting by UTF-16 code units.
    const RFC_SORTING_INPUT: &str = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;

    #[test]
    fn rfc8785_sorting_example() {
        let out = canon(RFC_SORTING_INPUT);
        // The RFC's expected order of the property values.
        let expected_order = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
        ];
        let value = parse(&out).unwrap();
        let Value::Object(members) = &value else {
            panic!("not an object")
        };
        let values: Vec<&str> = members
            .iter()
            .map(|(_, v)| match v {
                Value::String(s) => s.as_str(),
                _ => panic!("not a string"),
            })
            .collect();
        assert_eq!(values, expected_order);
        // And the exact bytes: \r escaped, U+0080 and everything else raw UTF-8.
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                        \"\u{1f600}\":\"Emoji: Grinning Face\",\
                        \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);
        assert!(out.starts_with(b"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\""));
        assert_eq!(check_canonical(&out), Ok(value));
    }

    #[test]
    fn utf16_order_differs_from_code_point_order() {
        // U+FB33 < U+1F600 as code points (and in UTF-8), but in UTF-16 the emoji is
        // D83D DE00, which sorts before FB33.
        let astral = "\u{1f600}";
        let bmp_high = "\u{fb33}";
        assert!(astral.as_bytes() > bmp_high.as_bytes());
        assert_eq!(cmp_utf16(astral, bmp_high), Ordering::Less);
        let v = obj(&[(bmp_high, int(1)), (astral, int(2))]);
        assert_eq!(
            encode(&v),
            "{\"\u{1f600}\":2,\"\u{fb33}\":1}".as_bytes().to_vec()
        );
        // Code-point order input is therefore not canonical, at the first key.
        let wrong = "{\"\u{fb33}\":1,\"\u{1f600}\":2}";
        match check_canonical(wrong.as_bytes()) {
            Err(CanonicalError::NotCanonical { offset, .. }) => assert_eq!(offset, 2),
            other => panic!("{other:?}"),
        }
        // Plain prefix rule and ASCII order.
        assert_eq!(cmp_utf16("a", "ab"), Ordering::Less);
        assert_eq!(cmp_utf16("B", "a"), Ordering::Less);
        assert_eq!(cmp_utf16("x", "x"), Ordering::Equal);
        assert_eq!(cmp_utf16("\u{ffff}", "\u{10000}"), Ordering::Greater);
        assert_eq!(cmp_utf16("\u{d7ff}", "\u{10000}"), Ordering::Less);
    }

    #[test]
    fn rfc8785_string_example() {
        // RFC 8785 §3.2.2 (string serialisation, §3.2.2.2): the "string" member's value.
        let input = br#""\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/""#;
        let expected = r#""€$\u000f\nA'B\"\\\\\"/""#;
        let out = encode(&parse(input).unwrap());
        assert_eq!(out, expected.as_bytes());
        assert_eq!(&out[1..4], &[0xE2, 0x82, 0xAC]); // € as raw UTF-8
        assert_eq!(
            parse(input).unwrap(),
            s("\u{20ac}$\u{f}\nA'B\"\\\\\"/"),
            "unescaped value"
        );
    }

    #[test]
    fn rfc8785_example_object() {
        // RFC 8785 §3.2.2's example object: rejected under this profile for its floats.
        let full = br#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
        assert_eq!(parse(full), Err(CanonicalError::NonInteger { offset: 16 }));
        assert!(matches!(
            check_canonical(full),
            Err(CanonicalError::NonInteger { .. })
        ));
        assert!(matches!(
            member_spans(full),
            Err(CanonicalError::NonInteger { .. })
        ));
        // Without "numbers" it canonicalises to the RFC's expected output minus that member.
        let no_numbers = br#"{
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
        let expected = r#"{"literals":[null,true,false],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        let out = encode(&parse(no_numbers).unwrap());
        assert_eq!(out, expected.as_bytes());
        assert!(check_canonical(&out).is_ok());
        assert!(matches!(
            check_canonical(no_numbers),
            Err(CanonicalError::NotCanonical { offset: 1, .. })
        ));
    }

    // --- strictness ----------------------------------------------------------------------

    #[test]
    fn duplicates_rejected_after_unescaping() {
        assert_eq!(
            parse(br#"{"a":1,"\u0061":2}"#),
            Err(CanonicalError::DuplicateKey {
                offset: 7,
                key: "a".into()
            })
        );
        assert_eq!(
            parse(br#"{"seq":1,"b":2,"seq":3}"#),
            Err(CanonicalError::DuplicateKey {
                offset: 15,
                key: "seq".into()
            })
        );
        let e = parse(br#"{"z":0,"seq":1,"b":2,"seq":3}"#).unwrap_err();
        assert_eq!(e.to_string(), "duplicate key \"seq\" at byte 21");
        // Nested, and the first repeat in document order is the one named.
        assert_eq!(
            parse(br#"[{"x":{"b":1,"a":2,"b":3,"a":4}}]"#),
            Err(CanonicalError::DuplicateKey {
                offset: 19,
                key: "b".into()
            })
        );
        // Sorted input with an immediate repeat (fast path).
        assert_eq!(
            parse(br#"{"a":1,"a":1}"#),
            Err(CanonicalError::DuplicateKey {
                offset: 7,
                key: "a".into()
            })
        );
        assert_eq!(
            Value::object(vec![("k".into(), int(1)), ("k".into(), int(2))]),
            Err(CanonicalError::DuplicateKey {
                offset: 0,
                key: "k".into()
            })
        );
        assert!(matches!(
            member_spans(br#"{"event":{},"event":{}}"#),
            Err(CanonicalError::DuplicateKey { offset: 12, .. })
        ));
    }

    #[test]
    fn non_integers_rejected() {
        for (text, offset) in [
            ("1.0", 0),
            ("1e2", 0),
            ("1E+2", 0),
            ("-0.5", 0),
            ("[0, 2e-3]", 4),
            ("{\"a\":10.25}", 5),
        ] {
            assert_eq!(
                parse(text.as_bytes()),
                Err(CanonicalError::NonInteger { offset }),
                "{text}"
            );
        }
        assert_eq!(
            parse(b"1.5").unwrap_err().to_string(),
            "non-integer number at byte 0"
        );
        // Malformed numbers are syntax errors.
        for text in [
            "1.", "1.e5", "1e", "1e+", "-", "-a", "+1", ".5", "01", "-01", "00",
        ] {
            assert!(
                matches!(parse(text.as_bytes()), Err(CanonicalError::Syntax { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn integer_range_edges() {
        assert_eq!(parse(b"9007199254740991"), Ok(int(MAX_SAFE_INTEGER)));
        assert_eq!(parse(b"-9007199254740991"), Ok(int(-MAX_SAFE_INTEGER)));
        assert_eq!(
            parse(b"9007199254740992"),
            Err(CanonicalError::OutOfRange { offset: 0 })
        );
        assert_eq!(
            parse(b"[-9007199254740992]"),
            Err(CanonicalError::OutOfRange { offset: 1 })
        );
        assert_eq!(
            parse(b"123456789012345678901234567890"),
            Err(CanonicalError::OutOfRange { offset: 0 })
        );
        assert_eq!(
            parse(b"18446744073709551616"),
            Err(CanonicalError::OutOfRange { offset: 0 })
        );
        for n in [0, 1, -1, 10, -10, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER] {
            let bytes = encode(&int(n));
            assert_eq!(bytes, n.to_string().into_bytes());
            assert_eq!(check_canonical(&bytes), Ok(int(n)));
        }
        assert_eq!(encode(&int(i64::MIN)), i64::MIN.to_string().into_bytes());
        // from_json applies the same range.
        assert_eq!(
            from_json(&serde_json::json!(9007199254740992_i64)),
            Err(CanonicalError::OutOfRange { offset: 0 })
        );
        assert_eq!(
            from_json(&serde_json::json!(u64::MAX)),
            Err(CanonicalError::OutOfRange { offset: 0 })
        );
        assert_eq!(
            from_json(&serde_json::json!(-9007199254740991_i64)),
            Ok(int(-MAX_SAFE_INTEGER))
        );
    }

    #[test]
    fn minus_zero_parses_but_is_not_canonical() {
        assert_eq!(parse(b"-0"), Ok(int(0)));
        assert_eq!(encode(&int(0)), b"0");
        match check_canonical(b"{\"a\":-0}") {
            Err(CanonicalError::NotCanonical {
                offset,
                expected,
                found,
            }) => {
                assert_eq!(offset, 5);
                assert_eq!(expected, "{\"a\":0}");
                assert_eq!(found, "{\"a\":-0}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn whitespace_is_not_canonical() {
        for (text, offset) in [
            (" {}", 0),
            ("{} ", 2),
            ("{\"a\": 1}", 5),
            ("{\"a\" :1}", 4),
            ("[1, 2]", 3),
            ("{\"a\":1}\n", 7),
        ] {
            assert!(parse(text.as_bytes()).is_ok(), "{text}");
            match check_canonical(text.as_bytes()) {
                Err(CanonicalError::NotCanonical { offset: o, .. }) => {
                    assert_eq!(o, offset, "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let e = check_canonical(b"{\"a\": 1}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "not canonical at byte 5: expected \"{\\\"a\\\":1}\", found \"{\\\"a\\\": 1}\""
        );
    }

    #[test]
    fn unsorted_keys_not_canonical_at_first_difference() {
        match check_canonical(br#"{"b":1,"a":2}"#) {
            Err(CanonicalError::NotCanonical { offset, .. }) => assert_eq!(offset, 2),
            other => panic!("{other:?}"),
        }
        match check_canonical(br#"{"v":1,"seq":2,"kind":"x"}"#) {
            Err(CanonicalError::NotCanonical { offset, .. }) => assert_eq!(offset, 2),
            other => panic!("{other:?}"),
        }
        // Deeper: sorted outside, unsorted inside.
        let text = br#"{"a":{"kind":"x","body":{}},"b":0}"#;
        match check_canonical(text) {
            Err(CanonicalError::NotCanonical {
                offset,
                expected,
                found,
            }) => {
                assert_eq!(offset, 7);
                assert!(expected.chars().count() <= 16 && found.chars().count() <= 16);
                assert!(expected.contains("body") && found.contains("kind"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            encode(&parse(text).unwrap()),
            br#"{"a":{"body":{},"kind":"x"},"b":0}"#
        );
    }

    #[test]
    fn string_escapes() {
        let all: String = (0u8..0x20).map(char::from).collect();
        let out = encode(&Value::String(all));
        let expected = "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\
                        \\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\
                        \\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"";
        assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);
        assert!(check_canonical(&out).is_ok());
        // Lowercase hex only; uppercase escapes parse but are not canonical.
        assert_eq!(encode(&s("\u{1f}")), b"\"\\u001f\"");
        assert!(matches!(
            check_canonical(b"\"\\u001F\""),
            Err(CanonicalError::NotCanonical { offset: 6, .. })
        ));
        // U+007F, U+2028, non-ASCII and '/' raw; '"' and '\' escaped.
        assert_eq!(encode(&s("\u{7f}")), b"\"\x7f\"");
        assert_eq!(
            encode(&s("a/\u{2028}\u{e9}\"\\")),
            "\"a/\u{2028}\u{e9}\\\"\\\\\"".as_bytes()
        );
        assert!(matches!(
            check_canonical(b"\"\\u007f\""),
            Err(CanonicalError::NotCanonical { offset: 1, .. })
        ));
        assert!(matches!(
            check_canonical(b"\"\\/\""),
            Err(CanonicalError::NotCanonical { offset: 1, .. })
        ));
        assert!(check_canonical(b"\"\x7f\"").is_ok());
        // Escaped surrogate pair decodes to the astral character.
        assert_eq!(parse(br#""\ud83d\ude00""#), Ok(s("\u{1f600}")));
        assert_eq!(parse(br#""\u0000""#), Ok(s("\u{0}")));
        // Raw control characters in strings are refused.
        let (offset, reason) = syntax_reason(b"\"a\x01\"");
        assert_eq!(
            (offset, reason.as_str()),
            (2, "unescaped control character in string")
        );
        let (offset, _) = syntax_reason(b"[\"x\ty\"]");
        assert_eq!(offset, 3);
        // Bad escapes.
        for text in [
            &br#""\x""#[..],
            br#""\u12""#,
            br#""\u12G4""#,
            br#""\"#,
            br#""abc"#,
            br#""\U0041""#,
        ] {
            assert!(
                matches!(parse(text), Err(CanonicalError::Syntax { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn lone_surrogates_rejected() {
        for (text, offset) in [
            (&br#""\ud800""#[..], 1),
            (br#""\uDBFF x""#, 1),
            (br#""ab\udc00""#, 3),
            (br#""\ud83d\u0041""#, 1),
            (br#""\ud83d\ud83d""#, 1),
            (br#""\ude00\ud83d""#, 1),
            (br#"{"\ud800":1}"#, 2),
        ] {
            let (o, reason) = syntax_reason(text);
            assert_eq!((o, reason.as_str()), (offset, "lone surrogate"), "{text:?}");
        }
        // A surrogate encoded directly in UTF-8 is invalid UTF-8.
        let (o, reason) = syntax_reason(b"\"\xed\xa0\x80\"");
        assert_eq!((o, reason.as_str()), (1, "invalid utf-8"));
    }

    fn nested(depth: usize) -> Vec<u8> {
        let mut v = vec![b'['; depth];
        v.extend(std::iter::repeat_n(b']', depth));
        v
    }

    #[test]
    fn depth_limit() {
        assert!(check_canonical(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            parse(&nested(MAX_DEPTH + 1)),
            Err(CanonicalError::TooDeep { offset: 64 })
        );
        // Objects count too.
        let mut text = Vec::new();
        for _ in 0..MAX_DEPTH - 1 {
            text.extend_from_slice(b"{\"a\":");
        }
        text.extend_from_slice(b"[]");
        text.extend(std::iter::repeat_n(b'}', MAX_DEPTH - 1));
        assert!(check_canonical(&text).is_ok());
        let mut deeper = b"[".to_vec();
        deeper.extend_from_slice(&text);
        deeper.push(b']');
        assert!(matches!(
            parse(&deeper),
            Err(CanonicalError::TooDeep { .. })
        ));
        // A huge nesting neither recurses without limit nor panics.
        assert!(matches!(
            parse(&nested(1_000_000)),
            Err(CanonicalError::TooDeep { offset: 64 })
        ));
        // from_json applies the same limit.
        let mut j = serde_json::json!(1);
        for _ in 0..MAX_DEPTH {
            j = serde_json::json!([j]);
        }
        assert!(from_json(&j).is_ok());
        j = serde_json::json!({ "a": j });
        assert_eq!(from_json(&j), Err(CanonicalError::TooDeep { offset: 0 }));
    }

    #[test]
    fn invalid_utf8_bom_and_trailing_data() {
        assert_eq!(syntax_reason(b"\"\xff\"").0, 1);
        assert_eq!(syntax_reason(b"[\"ok\",\"\xc3\"]").0, 7);
        assert_eq!(syntax_reason(b"\"\xc0\xaf\"").0, 1); // overlong '/'
        let (o, reason) = syntax_reason(b"\xef\xbb\xbf{}");
        assert_eq!((o, reason.as_str()), (0, "byte order mark not allowed"));
        for (text, offset) in [
            (&b"{}x"[..], 2),
            (b"{} {}", 3),
            (b"1 2", 2),
            (b"null,", 4),
            (b"{}\0", 2),
        ] {
            let (o, reason) = syntax_reason(text);
            assert_eq!((o, reason.as_str()), (offset, "trailing data"), "{text:?}");
        }
        for text in [
            &b""[..],
            b" ",
            b"{",
            b"[",
            b"[1,",
            b"{\"a\"",
            b"{\"a\":",
            b"{\"a\":1,",
            b"nul",
            b"tru",
            b"True",
            b"[1,]",
            b"{\"a\":1,}",
            b"{,}",
            b"[,]",
            b"{a:1}",
            b"{1:1}",
            b"'a'",
            b"\x0c1",
            b"[1 2]",
            b"{\"a\" 1}",
        ] {
            assert!(
                matches!(parse(text), Err(CanonicalError::Syntax { .. })),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        let (o, reason) = syntax_reason(b"[1,}");
        assert_eq!((o, reason.as_str()), (3, "unexpected character '}'"));
        assert_eq!(
            parse(b"[1,").unwrap_err().to_string(),
            "unexpected end of input at byte 3"
        );
    }

    // --- round trips and spans -----------------------------------------------------------

    fn samples() -> Vec<Value> {
        vec![
            Value::Null,
            Value::Bool(true),
            int(-42),
            s(""),
            s("h\u{e9}llo \"w\u{f6}rld\"\n\u{1f600}\u{7f}\u{1}"),
            Value::Array(vec![]),
            Value::Object(vec![]),
            Value::Array(vec![int(1), Value::Null, s("x"), Value::Array(vec![])]),
            obj(&[
                ("v", int(1)),
                ("journal", s("j-1")),
                ("seq", int(0)),
                ("prev", s(&"0".repeat(64))),
                ("run", Value::Null),
                ("kind", s("journal.opened")),
                (
                    "body",
                    obj(&[
                        ("lsn", s("123456789012345678901234567")),
                        (
                            "files",
                            Value::Array(vec![obj(&[("size", int(7)), ("path", s("a/b"))])]),
                        ),
                    ]),
                ),
                ("\u{fb33}", Value::Bool(false)),
                ("\u{1f600}", int(MAX_SAFE_INTEGER)),
                ("", int(-MAX_SAFE_INTEGER)),
            ]),
        ]
    }

    #[test]
    fn round_trips() {
        for v in samples() {
            let bytes = encode(&v);
            assert_eq!(check_canonical(&bytes), Ok(v.clone()), "{bytes:?}");
            assert_eq!(from_json(&to_json(&v)), Ok(v.clone()));
            let via_serde = to_canonical_bytes(&to_json(&v)).unwrap();
            assert_eq!(via_serde, bytes);
            let mut buf = b"prefix".to_vec();
            encode_into(&v, &mut buf);
            assert_eq!(&buf[6..], &bytes[..]);
        }
        let event = obj(&[("seq", int(3)), ("kind", s("x"))]);
        assert_eq!(event.get("seq"), Some(&int(3)));
        assert_eq!(event.get("nope"), None);
        assert_eq!(int(1).get("seq"), None);
    }

    #[test]
    fn encode_sorts_hand_built_objects() {
        let v = Value::Object(vec![("b".into(), int(1)), ("a".into(), int(2))]);
        assert_eq!(encode(&v), br#"{"a":2,"b":1}"#);
    }

    #[test]
    fn serde_entry_points() {
        #[derive(serde::Serialize)]
        struct Event<'a> {
            seq: u64,
            kind: &'a str,
            run: Option<&'a str>,
            tags: Vec<&'a str>,
        }
        let bytes = to_canonical_bytes(&Event {
            seq: 7,
            kind: "step.intent",
            run: None,
            tags: vec!["a/b", "\u{1}"],
        })
        .unwrap();
        assert_eq!(
            bytes,
            br#"{"kind":"step.intent","run":null,"seq":7,"tags":["a/b","\u0001"]}"#
        );
        #[derive(serde::Serialize)]
        struct WithFloat {
            x: f64,
        }
        assert_eq!(
            to_canonical_bytes(&WithFloat { x: 1.0 }),
            Err(CanonicalError::Float)
        );
        assert_eq!(
            from_json(&serde_json::json!(0.5)),
            Err(CanonicalError::Float)
        );
        assert_eq!(
            to_canonical_bytes(&u64::MAX),
            Err(CanonicalError::OutOfRange { offset: 0 })
        );
        // A serialisation error (a map with non-string keys) comes back as Syntax at 0.
        let mut bad = std::collections::BTreeMap::new();
        bad.insert(vec![1u8], 1);
        assert!(matches!(
            to_canonical_bytes(&bad),
            Err(CanonicalError::Syntax { offset: 0, .. })
        ));
    }

    #[test]
    fn member_spans_exact() {
        let line = br#"{ "event" : {"a":1} , "sig":"x" }"#;
        let spans = member_spans(line).unwrap();
        assert_eq!(
            spans,
            vec![("event".to_string(), 12..19), ("sig".to_string(), 28..31)]
        );
        assert_eq!(&line[spans[0].1.clone()], br#"{"a":1}"#);
        assert_eq!(&line[spans[1].1.clone()], br#""x""#);
        // Document order, not canonical order; only top-level members.
        let line = br#"{"sig":"s","event":{"seq":1,"body":{"x":[1,2]}}}"#;
        let spans = member_spans(line).unwrap();
        let keys: Vec<&str> = spans.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["sig", "event"]);
        assert_eq!(
            &line[spans[1].1.clone()],
            br#"{"seq":1,"body":{"x":[1,2]}}"#
        );
        // Escaped keys are unescaped.
        let spans = member_spans(br#"{"\u0065vent":null}"#).unwrap();
        assert_eq!(spans, vec![("event".to_string(), 14..18)]);
        assert_eq!(member_spans(b" {} ").unwrap(), vec![]);
        // Not an object, or invalid anywhere: refused.
        assert!(matches!(
            member_spans(b"[1]"),
            Err(CanonicalError::Syntax { offset: 0, .. })
        ));
        assert!(matches!(
            member_spans(b"  1"),
            Err(CanonicalError::Syntax { offset: 2, .. })
        ));
        assert!(member_spans(b"").is_err());
        assert!(member_spans(br#"{"event":{"a":1.5},"sig":"x"}"#).is_err());
        assert!(member_spans(br#"{"event":{"a":1},"sig":"x"} x"#).is_err());
        assert!(member_spans(br#"{"event":{"a":1,"a":2},"sig":"x"}"#).is_err());
    }

    // --- fuzzing -------------------------------------------------------------------------

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            if n == 0 {
                0
            } else {
                (self.next() % n as u64) as usize
            }
        }
    }

    const INTERESTING: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b"\\",
        b",",
        b":",
        b" ",
        b"\n",
        b"-",
        b"0",
        b"9",
        b".",
        b"e",
        b"\\u",
        b"\\ud83d",
        b"\\ude00",
        b"\\u0000",
        b"null",
        b"true",
        b"\xff",
        b"\xc3",
        b"\xed\xa0\x80",
        b"\xf0\x9f\x98\x80",
        b"\xef\xac\xb3",
        b"\x01",
        b"\x7f",
        b"9007199254740992",
        b"-0",
        b"\"a\":1",
        b"{\"a\":{}}",
    ];

    fn mutate(rng: &mut XorShift, input: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(v.len() + 1);
            match rng.below(6) {
                0 if !v.is_empty() => {
                    let i = rng.below(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
                1 if !v.is_empty() => {
                    let i = rng.below(v.len());
                    v[i] = rng.next() as u8;
                }
                2 if at < v.len() => {
                    v.remove(at);
                }
                3 => {
                    let piece = INTERESTING[rng.below(INTERESTING.len())];
                    v.splice(at..at, piece.iter().copied());
                }
                4 => v.truncate(at),
                _ => {
                    let from = rng.below(v.len() + 1);
                    let to = (from + rng.below(8)).min(v.len());
                    let piece = v[from..to].to_vec();
                    v.splice(at..at, piece);
                }
            }
        }
        v
    }

    /// Properties checked on every input, valid or not.
    fn check_properties(input: &[u8]) {
        let parsed = parse(input);
        let checked = check_canonical(input);
        let spans = member_spans(input);
        match &parsed {
            Ok(v) => {
                let bytes = encode(v);
                assert_eq!(check_canonical(&bytes).as_ref(), Ok(v), "{input:?}");
                match &checked {
                    Ok(w) => {
                        assert_eq!(w, v);
                        assert_eq!(bytes, input);
                    }
                    Err(CanonicalError::NotCanonical {
                        offset,
                        expected,
                        found,
                    }) => {
                        assert_ne!(bytes, input);
                        assert!(*offset <= input.len().min(bytes.len()));
                        assert_eq!(input[..*offset], bytes[..*offset]);
                        assert!(expected.chars().count() <= 16 && found.chars().count() <= 16);
                    }
                    Err(e) => panic!("parse ok but check_canonical: {e}"),
                }
                // Stricter than serde_json: whatever is accepted here is accepted there too,
                // and means the same.
                let json: serde_json::Value = serde_json::from_slice(input)
                    .unwrap_or_else(|e| panic!("serde_json refused {input:?}: {e}"));
                match from_json(&json) {
                    // serde_json reads `-0` as the float -0.0.
                    Err(CanonicalError::Float) => {
                        assert!(input.windows(2).any(|w| w == b"-0"), "{input:?}")
                    }
                    other => assert_eq!(other.as_ref(), Ok(v)),
                }
                if let Value::Object(members) = v {
                    let spans = spans
                        .as_ref()
                        .expect("object accepted but member_spans failed");
                    assert_eq!(spans.len(), members.len());
                    for (key, range) in spans {
                        assert_eq!(parse(&input[range.clone()]).as_ref().ok(), v.get(key));
                    }
                } else {
                    assert!(spans.is_err());
                }
            }
            Err(e) => {
                assert_eq!(checked.as_ref(), Err(e));
                // member_spans validates without building values, and must agree exactly.
                let first = input.iter().find(|b| !b" \t\n\r".contains(b));
                if first == Some(&b'{') {
                    assert_eq!(spans.as_ref().map(|_| ()), Err(e), "{input:?}");
                } else {
                    assert!(spans.is_err());
                }
                if let Some(o) = offset_of(e) {
                    assert!(o <= input.len(), "{e} beyond {}", input.len());
                }
                assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn fuzz_mutations_never_panic() {
        let mut corpus: Vec<Vec<u8>> = samples().iter().map(encode).collect();
        corpus.push(RFC_SORTING_INPUT.as_bytes().to_vec());
        corpus.push(br#"{ "event" : {"a":1} , "sig":"x" }"#.to_vec());
        corpus.push(br#"{"a":[1,-2,{"b":"\u0041\n\ud83d\ude00"}],"c":true}"#.to_vec());
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0;
        for round in 0..50_000 {
            let seed = &corpus[rng.below(corpus.len())];
            let input = mutate(&mut rng, seed);
            check_properties(&input);
            if parse(&input).is_ok() {
                accepted += 1;
                if round % 7 == 0 && corpus.len() < 200 {
                    corpus.push(input);
                }
            }
        }
        // The mutator must keep some inputs valid, or the fuzz loop tests little.
        assert!(accepted > 500, "only {accepted} mutated inputs parsed");
    }

    #[test]
    fn fuzz_utf16_comparison_matches_reference() {
        let alphabet = [
            'a',
            'b',
            'z',
            '\r',
            '1',
            '\u{80}',
            '\u{f6}',
            '\u{20ac}',
            '\u{d7ff}',
            '\u{e000}',
            '\u{fb33}',
            '\u{ffff}',
            '\u{10000}',
            '\u{1f600}',
            '\u{10ffff}',
        ];
        let mut rng = XorShift(42);
        for _ in 0..20_000 {
            let a: String = (0..rng.below(4))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let b: String = (0..rng.below(4))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let reference = a.encode_utf16().cmp(b.encode_utf16());
            assert_eq!(cmp_utf16(&a, &b), reference, "{a:?} vs {b:?}");
        }
    }
}
