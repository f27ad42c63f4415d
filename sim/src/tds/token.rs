//! Tokens of the tabular result stream (MS-TDS §2.2.7): the server's side only.
//!
//! The writer appends tokens to a buffer that the connection then sends as one message. Column
//! types are the handful the simulated catalog needs, each written in its nullable form
//! (INTN, BITN, DATETIMN…) so that NULL is always representable. This module knows nothing of
//! SQL: it is told the columns, rows and messages.

/// Column types the simulated catalog produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// `nvarchar(4000)`.
    NVarChar,
    /// `tinyint`.
    TinyInt,
    /// `smallint`.
    SmallInt,
    /// `int`.
    Int,
    /// `bigint`.
    BigInt,
    /// `bit`.
    Bit,
    /// `datetime`.
    DateTime,
    /// `datetime2(7)`.
    DateTime2,
    /// `numeric(25,0)`, the type of LSN columns.
    Numeric25,
    /// `uniqueidentifier`.
    UniqueIdentifier,
    /// `varbinary(85)`, the type of SIDs.
    VarBinary,
}

/// One cell value. Dates and GUIDs travel as text and are encoded by their column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any integer (also bit, numeric).
    Int(i128),
    /// Text, a date as `YYYY-MM-DD HH:MM:SS[.fffffff]` or a GUID.
    Text(String),
    /// A binary value (VARBINARY, a hash).
    Bytes(Vec<u8>),
}

/// A result set column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name; empty for an unnamed expression, as SQL Server sends it.
    pub name: String,
    /// Its type.
    pub ty: SqlType,
}

/// DONE status bits (MS-TDS §2.2.7.6).
pub mod done {
    /// More results follow in this message.
    pub const MORE: u16 = 0x0001;
    /// The statement failed.
    pub const ERROR: u16 = 0x0002;
    /// The row count is valid.
    pub const COUNT: u16 = 0x0010;
    /// Acknowledges an attention signal.
    pub const ATTN: u16 = 0x0020;
}

/// Which DONE token to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneKind {
    /// End of a statement of a batch (`DONE`, 0xFD).
    Done,
    /// End of a statement inside a procedure (`DONEINPROC`, 0xFF).
    InProc,
    /// End of a procedure call (`DONEPROC`, 0xFE).
    Proc,
}

/// SQL_Latin1_General_CP1_CI_AS, the collation a default English install reports.
const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];
/// Server name put in INFO and ERROR tokens when none is given.
const PROG_NAME: &str = "Microsoft SQL Server";

/// Appends tokens to a message buffer.
#[derive(Debug, Default)]
pub struct TokenWriter {
    /// The encoded tokens so far.
    pub buf: Vec<u8>,
}

fn b_varchar(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(255).collect();
    out.push(units.len() as u8);
    for u in units {
        out.extend_from_slice(&u.to_le_bytes());
    }
}

fn us_varchar(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(u16::MAX as usize).collect();
    out.extend_from_slice(&(units.len() as u16).to_le_bytes());
    for u in units {
        out.extend_from_slice(&u.to_le_bytes());
    }
}

impl TokenWriter {
    /// LOGINACK for the TDS version agreed (its DWORD value, sent big-endian).
    pub fn login_ack(&mut self, tds_version: u32) {
        let mut body = vec![1u8];
        body.extend_from_slice(&tds_version.to_be_bytes());
        b_varchar(&mut body, PROG_NAME);
        body.extend_from_slice(&[11, 0, 0x1B, 0x59]);
        self.with_len(0xAD, &body);
    }

    /// ENVCHANGE of the current database.
    pub fn env_database(&mut self, new: &str, old: &str) {
        let mut body = vec![1u8];
        b_varchar(&mut body, new);
        b_varchar(&mut body, old);
        self.with_len(0xE3, &body);
    }

    /// ENVCHANGE of the packet size.
    pub fn env_packet_size(&mut self, new: u32, old: u32) {
        let mut body = vec![4u8];
        b_varchar(&mut body, &new.to_string());
        b_varchar(&mut body, &old.to_string());
        self.with_len(0xE3, &body);
    }

    /// ENVCHANGE of the SQL collation.
    pub fn env_collation(&mut self) {
        let mut body = vec![7u8, COLLATION.len() as u8];
        body.extend_from_slice(&COLLATION);
        body.push(0);
        self.with_len(0xE3, &body);
    }

    /// FEATUREEXTACK acknowledging no feature (TDS 7.4 clients that sent an extension block).
    pub fn feature_ext_ack_none(&mut self) {
        self.buf.extend_from_slice(&[0xAE, 0xFF]);
    }

    /// An INFO (class ≤ 10) or ERROR (class > 10) message.
    pub fn message(&mut self, number: i32, state: u8, class: u8, text: &str, server: &str) {
        let mut body = Vec::new();
        body.extend_from_slice(&number.to_le_bytes());
        body.push(state);
        body.push(class);
        us_varchar(&mut body, text);
        b_varchar(&mut body, server);
        b_varchar(&mut body, "");
        body.extend_from_slice(&1i32.to_le_bytes());
        self.with_len(if class > 10 { 0xAA } else { 0xAB }, &body);
    }

    /// RETURNSTATUS: the return code of a procedure.
    pub fn return_status(&mut self, value: i32) {
        self.buf.push(0x79);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A DONE, DONEINPROC or DONEPROC token.
    pub fn done(&mut self, kind: DoneKind, status: u16, cur_cmd: u16, rows: u64) {
        self.buf.push(match kind {
            DoneKind::Done => 0xFD,
            DoneKind::Proc => 0xFE,
            DoneKind::InProc => 0xFF,
        });
        self.buf.extend_from_slice(&status.to_le_bytes());
        self.buf.extend_from_slice(&cur_cmd.to_le_bytes());
        self.buf.extend_from_slice(&rows.to_le_bytes());
    }

    /// COLMETADATA for these columns.
    pub fn col_metadata(&mut self, cols: &[Column]) {
        self.buf.push(0x81);
        self.buf
            .extend_from_slice(&(cols.len() as u16).to_le_bytes());
        for c in cols {
            self.buf.extend_from_slice(&0u32.to_le_bytes());
            // fNullable: every simulated column may hold NULL.
            self.buf.extend_from_slice(&0x0001u16.to_le_bytes());
            match c.ty {
                SqlType::NVarChar => {
                    self.buf.push(0xE7);
                    self.buf.extend_from_slice(&8000u16.to_le_bytes());
                    self.buf.extend_from_slice(&COLLATION);
                }
                SqlType::TinyInt => self.buf.extend_from_slice(&[0x26, 1]),
                SqlType::SmallInt => self.buf.extend_from_slice(&[0x26, 2]),
                SqlType::Int => self.buf.extend_from_slice(&[0x26, 4]),
                SqlType::BigInt => self.buf.extend_from_slice(&[0x26, 8]),
                SqlType::Bit => self.buf.extend_from_slice(&[0x68, 1]),
                SqlType::DateTime => self.buf.extend_from_slice(&[0x6F, 8]),
                SqlType::DateTime2 => self.buf.extend_from_slice(&[0x2A, 7]),
                SqlType::Numeric25 => self.buf.extend_from_slice(&[0x6C, 13, 25, 0]),
                SqlType::UniqueIdentifier => self.buf.extend_from_slice(&[0x24, 16]),
                SqlType::VarBinary => {
                    self.buf.push(0xA5);
                    self.buf.extend_from_slice(&8000u16.to_le_bytes());
                }
            }
            b_varchar(&mut self.buf, &c.name);
        }
    }

    /// ROW with one value per column of the preceding COLMETADATA.
    pub fn row(&mut self, cols: &[Column], values: &[Value]) {
        self.buf.push(0xD1);
        for (c, v) in cols.iter().zip(values) {
            encode_value(&mut self.buf, c.ty, v);
        }
    }

    fn with_len(&mut self, token: u8, body: &[u8]) {
        self.buf.push(token);
        self.buf
            .extend_from_slice(&(body.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(body);
    }
}

fn encode_value(out: &mut Vec<u8>, ty: SqlType, v: &Value) {
    let fixed_int = |out: &mut Vec<u8>, n: i128, len: usize| {
        out.push(len as u8);
        out.extend_from_slice(&n.to_le_bytes()[..len]);
    };
    match (ty, v) {
        (SqlType::NVarChar | SqlType::VarBinary, Value::Null) => {
            out.extend_from_slice(&0xFFFFu16.to_le_bytes())
        }
        (_, Value::Null) => out.push(0),
        (SqlType::NVarChar, v) => {
            let text = match v {
                Value::Text(s) => s.clone(),
                Value::Int(n) => n.to_string(),
                Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                Value::Null => unreachable!("handled above"),
            };
            let units: Vec<u16> = text.encode_utf16().take(4000).collect();
            out.extend_from_slice(&((units.len() * 2) as u16).to_le_bytes());
            for u in units {
                out.extend_from_slice(&u.to_le_bytes());
            }
        }
        (SqlType::VarBinary, v) => {
            let bytes = match v {
                Value::Bytes(b) => b.clone(),
                Value::Text(s) => s.as_bytes().to_vec(),
                _ => Vec::new(),
            };
            let bytes = &bytes[..bytes.len().min(8000)];
            out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        (SqlType::TinyInt, v) => fixed_int(out, as_int(v), 1),
        (SqlType::SmallInt, v) => fixed_int(out, as_int(v), 2),
        (SqlType::Int, v) => fixed_int(out, as_int(v), 4),
        (SqlType::BigInt, v) => fixed_int(out, as_int(v), 8),
        (SqlType::Bit, v) => fixed_int(out, (as_int(v) != 0) as i128, 1),
        (SqlType::Numeric25, v) => {
            let n = as_int(v);
            out.push(13);
            out.push(if n < 0 { 0 } else { 1 });
            out.extend_from_slice(&n.unsigned_abs().to_le_bytes()[..12]);
        }
        (SqlType::DateTime, v) => {
            let (days, nanos) = parse_datetime(&as_text(v));
            out.push(8);
            out.extend_from_slice(&((days - DAYS_TO_1900) as i32).to_le_bytes());
            // datetime counts 1/300 s since midnight.
            let ticks = (nanos as u128 * 300 / 1_000_000_000) as u32;
            out.extend_from_slice(&ticks.to_le_bytes());
        }
        (SqlType::DateTime2, v) => {
            let (days, nanos) = parse_datetime(&as_text(v));
            out.push(8);
            out.extend_from_slice(&(nanos / 100).to_le_bytes()[..5]);
            out.extend_from_slice(&(days as u32).to_le_bytes()[..3]);
        }
        (SqlType::UniqueIdentifier, v) => {
            let text = as_text(v);
            match uuid::Uuid::parse_str(text.trim_matches(|c| c == '{' || c == '}')) {
                Ok(u) => {
                    let b = u.as_bytes();
                    out.push(16);
                    // The first three groups travel little-endian (MS-TDS GUIDTYPE).
                    out.extend_from_slice(&[b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]]);
                    out.extend_from_slice(&b[8..]);
                }
                Err(_) => out.push(0),
            }
        }
    }
}

fn as_int(v: &Value) -> i128 {
    match v {
        Value::Int(n) => *n,
        Value::Text(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Days from 0001-01-01 to 1900-01-01.
const DAYS_TO_1900: i64 = 693_595;

/// Days since 0001-01-01 and nanoseconds since midnight of `YYYY-MM-DD[ HH:MM:SS[.f…]]`;
/// 1900-01-01 for text that is not a date.
fn parse_datetime(text: &str) -> (i64, u64) {
    use time::macros::format_description;
    let t = text.trim();
    let (date, clock) = t.split_once([' ', 'T']).unwrap_or((t, "00:00:00"));
    let Ok(date) = time::Date::parse(date, format_description!("[year]-[month]-[day]")) else {
        return (DAYS_TO_1900, 0);
    };
    let clock = time::Time::parse(
        clock,
        format_description!("[hour]:[minute]:[second][optional [.[subsecond]]]"),
    )
    .unwrap_or(time::Time::MIDNIGHT);
    let (h, m, s, nanos) = clock.as_hms_nano();
    let nanos =
        (u64::from(h) * 3600 + u64::from(m) * 60 + u64::from(s)) * 1_000_000_000 + u64::from(nanos);
    (days_since_year_one(date), nanos)
}

/// Days since 0001-01-01 in the proleptic Gregorian calendar.
fn days_since_year_one(date: time::Date) -> i64 {
    // The Julian day number of 0001-01-01.
    const YEAR_ONE: i64 = 1_721_426;
    i64::from(date.to_julian_day()) - YEAR_ONE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_the_right_epochs() {
        let day = |y, m, d| {
            time::Date::from_calendar_date(y, time::Month::try_from(m).expect("a month"), d)
                .expect("a date")
        };
        assert_eq!(days_since_year_one(day(1, 1, 1)), 0);
        assert_eq!(days_since_year_one(day(1900, 1, 1)), DAYS_TO_1900);
        assert_eq!(parse_datetime("1900-01-01"), (DAYS_TO_1900, 0));
        assert_eq!(parse_datetime("not a date"), (DAYS_TO_1900, 0));
        assert_eq!(parse_datetime("1900-01-02 00:00:01.5").1, 1_500_000_000);
    }
}
