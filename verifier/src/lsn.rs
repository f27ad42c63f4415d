//! Log sequence numbers as the journal records them.
//!
//! SQL Server's LSNs are `numeric(25,0)`: they do not fit in 64 bits, and as text they do not
//! sort (`"9" > "10"`). The journal keeps them as decimal strings so that no reader loses a
//! digit; every comparison goes through [`Lsn`], which compares them as numbers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A log sequence number: a decimal numeral of at most 25 digits, kept exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u128);

impl Lsn {
    /// The most digits an LSN has (`numeric(25,0)`).
    pub const MAX_DIGITS: usize = 25;

    /// Parses the decimal form SQL Server returns and the journal records (surrounding
    /// whitespace, as a server's text column may carry, is ignored). Anything else — a sign,
    /// a fraction, more than 25 digits — is not an LSN.
    pub fn parse(s: &str) -> Option<Lsn> {
        let s = s.trim();
        if s.is_empty() || s.len() > Lsn::MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().map(Lsn)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a text is not an LSN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an LSN (a decimal numeral of at most 25 digits): {0:?}")]
pub struct NotAnLsn(pub String);

impl FromStr for Lsn {
    type Err = NotAnLsn;

    fn from_str(s: &str) -> Result<Lsn, NotAnLsn> {
        Lsn::parse(s).ok_or_else(|| NotAnLsn(s.to_string()))
    }
}

/// Written as its decimal string, as every LSN in the journal is.
impl Serialize for Lsn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Lsn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Lsn, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_beyond_u64_parse_exactly_and_compare_as_numbers() {
        let big = "4100000001234500001234567";
        assert_eq!(Lsn::parse(big).map(|l| l.to_string()).as_deref(), Some(big));
        assert!(Lsn::parse("9") < Lsn::parse("10"));
        for bad in ["", "12a", "+5", "-1", "1.0", "41000000012345000012345670"] {
            assert!(Lsn::parse(bad).is_none(), "{bad:?} accepted");
        }
        assert_eq!(Lsn::parse(" 42 "), Some(Lsn(42)));
    }

    #[test]
    fn an_lsn_is_written_as_its_decimal_string() {
        let l = Lsn(4_100_000_001_234_500_001_234_567);
        let json = serde_json::to_string(&l).expect("an LSN serialises");
        assert_eq!(json, "\"4100000001234500001234567\"");
        let back: Lsn = serde_json::from_str(&json).expect("and reads back");
        assert_eq!(back, l);
        assert!(serde_json::from_str::<Lsn>("\"x\"").is_err());
    }
}
