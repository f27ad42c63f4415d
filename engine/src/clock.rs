//! The clock seam: event timestamps come from here, so tests and fixtures can fix them.

/// A source of event timestamps (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
pub trait Clock: Send {
    /// The current UTC time in the journal's timestamp form.
    fn now(&mut self) -> String;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&mut self) -> String {
        format_timestamp(time::OffsetDateTime::now_utc())
    }
}

/// A clock that starts at a fixed time and advances a fixed step per reading.
#[derive(Debug, Clone)]
pub struct SteppingClock {
    next: time::OffsetDateTime,
    step: time::Duration,
}

impl SteppingClock {
    /// Starts at `start` (unix microseconds) and advances `step_us` per reading.
    pub fn new(start_unix_us: i64, step_us: i64) -> SteppingClock {
        SteppingClock {
            next: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(start_unix_us) * 1000)
                .expect("a representable time"),
            step: time::Duration::microseconds(step_us),
        }
    }
}

impl Clock for SteppingClock {
    fn now(&mut self) -> String {
        let t = self.next;
        self.next += self.step;
        format_timestamp(t)
    }
}

/// Formats a time as the journal's timestamp.
pub fn format_timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}
