//! RPC requests (MS-TDS §2.2.6.6): how tiberius sends every `query` and `execute`, as a call
//! of `sp_executesql` with the statement and its `@P1…` parameters.
//!
//! Parameters are decoded into T-SQL literals so that the SQL layer sees one statement text
//! with the values in place; the simulator has no plan cache to bind them into.

use std::fmt::Write as _;

/// A decoded RPC call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcCall {
    /// Procedure name (well-known ids are mapped to their names, e.g. `sp_executesql`).
    pub proc_name: String,
    /// Parameters in order: name (may be empty) and value as a T-SQL literal.
    pub params: Vec<(String, String)>,
}

/// The request could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("malformed RPC request: {0}")]
pub struct RpcError(&'static str);

struct Cursor<'a> {
    p: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RpcError> {
        let s = self
            .p
            .get(self.at..self.at + n)
            .ok_or(RpcError("truncated"))?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, RpcError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, RpcError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, RpcError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, RpcError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn utf16(&mut self, units: usize) -> Result<String, RpcError> {
        let b = self.take(units * 2)?;
        let u: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Ok(String::from_utf16_lossy(&u))
    }
}

/// Skips ALL_HEADERS (TDS 7.2+), which precede SQL batch and RPC payloads.
pub fn skip_all_headers(p: &[u8]) -> &[u8] {
    if p.len() >= 4 {
        let total = u32::from_le_bytes(p[..4].try_into().expect("4 bytes")) as usize;
        if (4..=p.len()).contains(&total) {
            return &p[total..];
        }
    }
    p
}

/// Decodes the first call of an RPC request payload (after ALL_HEADERS).
pub fn parse(payload: &[u8]) -> Result<RpcCall, RpcError> {
    let mut c = Cursor { p: payload, at: 0 };
    let len = c.u16()?;
    let proc_name = if len == 0xFFFF {
        match c.u16()? {
            1 => "sp_cursor",
            10 => "sp_executesql",
            11 => "sp_prepare",
            12 => "sp_execute",
            13 => "sp_prepexec",
            15 => "sp_unprepare",
            _ => "sp_unknown_rpc",
        }
        .to_string()
    } else {
        c.utf16(len as usize)?
    };
    let _options = c.u16()?;
    let mut params = Vec::new();
    while c.at < payload.len() {
        // 0xFF / 0x80 separate batched calls; only the first call is served.
        if matches!(payload[c.at], 0x80 | 0xFF) {
            break;
        }
        let name_len = c.u8()? as usize;
        let name = c.utf16(name_len)?;
        let _status = c.u8()?;
        params.push((name, value(&mut c)?));
    }
    Ok(RpcCall { proc_name, params })
}

fn quote(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

/// Reads TYPE_INFO and the value that follows, as a T-SQL literal.
fn value(c: &mut Cursor) -> Result<String, RpcError> {
    let ty = c.u8()?;
    match ty {
        // Fixed-length integers, bit, float, datetime.
        0x30 => Ok(c.u8()?.to_string()),
        0x34 => Ok((c.u16()? as i16).to_string()),
        0x38 => Ok((c.u32()? as i32).to_string()),
        0x7F => Ok((c.u64()? as i64).to_string()),
        0x32 => Ok(c.u8()?.to_string()),
        0x3E => Ok(f64::from_le_bytes(c.take(8)?.try_into().expect("8")).to_string()),
        // INTN, BITN, FLTN, GUID, DATETIMN: one byte max length, then length-prefixed data.
        0x26 | 0x68 | 0x6D | 0x24 | 0x6F => {
            let _max = c.u8()?;
            let len = c.u8()? as usize;
            if len == 0 {
                return Ok("NULL".into());
            }
            let b = c.take(len)?;
            Ok(match ty {
                0x26 | 0x68 => {
                    let mut buf = [0u8; 8];
                    buf[..len].copy_from_slice(b);
                    let v = i64::from_le_bytes(buf);
                    // Sign-extend the narrower integers.
                    let shift = 64 - 8 * len as u32;
                    ((v << shift) >> shift).to_string()
                }
                0x6D if len == 8 => f64::from_le_bytes(b.try_into().expect("8")).to_string(),
                0x6D => {
                    f32::from_le_bytes(b.try_into().map_err(|_| RpcError("float"))?).to_string()
                }
                0x24 if len == 16 => {
                    let g = [
                        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11],
                        b[12], b[13], b[14], b[15],
                    ];
                    format!("'{}'", uuid::Uuid::from_bytes(g).to_string().to_uppercase())
                }
                _ => return Err(RpcError("unsupported fixed parameter type")),
            })
        }
        // NUMERICN / DECIMALN.
        0x6A | 0x6C => {
            let _max = c.u8()?;
            let _precision = c.u8()?;
            let scale = c.u8()? as u32;
            let len = c.u8()? as usize;
            if len == 0 {
                return Ok("NULL".into());
            }
            let b = c.take(len)?;
            let mut buf = [0u8; 16];
            buf[..len - 1].copy_from_slice(&b[1..]);
            let n = u128::from_le_bytes(buf);
            let digits = n.to_string();
            let sign = if b[0] == 0 { "-" } else { "" };
            if scale == 0 {
                return Ok(format!("{sign}{digits}"));
            }
            let padded = format!("{:0>width$}", digits, width = scale as usize + 1);
            let (i, f) = padded.split_at(padded.len() - scale as usize);
            Ok(format!("{sign}{i}.{f}"))
        }
        // NVARCHAR, NCHAR, VARCHAR, CHAR (with collation); VARBINARY, BINARY (without).
        0xE7 | 0xEF | 0xA7 | 0xAF | 0xA5 | 0xAD => {
            let max = c.u16()?;
            if matches!(ty, 0xE7 | 0xEF | 0xA7 | 0xAF) {
                c.take(5)?;
            }
            let bytes = if max == 0xFFFF {
                match plp(c)? {
                    Some(b) => b,
                    None => return Ok("NULL".into()),
                }
            } else {
                let len = c.u16()?;
                if len == 0xFFFF {
                    return Ok("NULL".into());
                }
                c.take(len as usize)?.to_vec()
            };
            Ok(match ty {
                0xE7 | 0xEF => {
                    let u: Vec<u16> = bytes
                        .chunks_exact(2)
                        .map(|x| u16::from_le_bytes([x[0], x[1]]))
                        .collect();
                    quote(&String::from_utf16_lossy(&u))
                }
                0xA7 | 0xAF => quote(&String::from_utf8_lossy(&bytes)),
                _ => {
                    let mut s = String::from("0x");
                    for b in bytes {
                        let _ = write!(s, "{b:02X}");
                    }
                    s
                }
            })
        }
        _ => Err(RpcError("unsupported parameter type")),
    }
}

/// Reads a partially length-prefixed value; `None` for NULL.
fn plp(c: &mut Cursor) -> Result<Option<Vec<u8>>, RpcError> {
    let total = c.u64()?;
    if total == u64::MAX {
        return Ok(None);
    }
    let mut out = Vec::new();
    loop {
        let chunk = c.u32()? as usize;
        if chunk == 0 {
            return Ok(Some(out));
        }
        out.extend_from_slice(c.take(chunk)?);
    }
}
