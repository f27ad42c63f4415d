//! Log sequence numbers as SQL Server prints them in `numeric(25,0)` columns.
//!
//! An LSN is the VLF sequence number followed by the log block (10 digits) and the slot
//! (5 digits), read as one decimal number. Busy databases exceed `u64`, so
//! the type is a `u128`; the simulator only generates values below `i64::MAX` so that SQLite
//! can store and compare them as integers, but nothing here relies on that.

use std::fmt;

/// A log sequence number in its decimal (`numeric(25,0)`) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u128);

impl Lsn {
    /// Builds an LSN from its parts: VLF sequence, log block and slot.
    pub fn from_parts(vlf: u64, block: u64, slot: u32) -> Lsn {
        Lsn(vlf as u128 * 1_000_000_000_000_000 + block as u128 * 100_000 + slot as u128)
    }

    /// The VLF sequence number (the digits before the last fifteen).
    pub fn vlf(self) -> u128 {
        self.0 / 1_000_000_000_000_000
    }

    /// The value as an `i64` for SQLite, which stores integers of at most 64 bits.
    pub fn to_i64(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }

    /// Parses the decimal form, as found in `RESTORE HEADERONLY` output.
    pub fn parse(text: &str) -> Option<Lsn> {
        let t = text.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > 25 {
            return None;
        }
        t.parse().ok().map(Lsn)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_compose_like_sql_server_prints_them() {
        let lsn = Lsn::from_parts(34, 12_300, 1);
        assert_eq!(lsn.to_string(), "34000001230000001");
        assert_eq!(lsn.vlf(), 34);
        assert_eq!(Lsn::parse("34000001230000001"), Some(lsn));
        assert_eq!(Lsn::parse("-1"), None);
    }
}
