//! Faults injected on purpose: the one plan a binary hands to the journal writer and the
//! dispatcher, so that drills and crash tests can make durability fail or kill the process at
//! a named point (redb's crash backend is the model).
//!
//! Production code never reads a fault from the environment: a [`FaultPlan`] is built by the
//! caller (the `runledger` binary from its flags) and is empty by default, in which case it
//! costs a comparison per append. The writer and the dispatcher each count their own passes.

use std::fmt;
use std::str::FromStr;

/// Named points in the dispatcher where a plan can have the process killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// After an intent is durable, before its action starts.
    AfterIntent,
    /// After an action, before its outcome is appended.
    BeforeOutcome,
    /// After an outcome is durable.
    AfterOutcome,
}

impl CrashPoint {
    /// The point's name, as a fault is spelled (`after-intent`, …).
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::AfterIntent => "after-intent",
            CrashPoint::BeforeOutcome => "before-outcome",
            CrashPoint::AfterOutcome => "after-outcome",
        }
    }

    fn parse(name: &str) -> Option<CrashPoint> {
        [
            CrashPoint::AfterIntent,
            CrashPoint::BeforeOutcome,
            CrashPoint::AfterOutcome,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

/// One fault, as given on a command line:
///
/// | spelling | fault |
/// |---|---|
/// | `fail-append:N` | the writer's Nth append (1 = its first) and every later one fail as a full disk does, before a byte is written |
/// | `crash-after-events:N` | the process is killed right after the journal holds N events |
/// | `crash:POINT[:N]` | the process is killed the Nth time (default 1) the dispatcher passes POINT (`after-intent`, `before-outcome`, `after-outcome`) |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `fail-append:N`.
    FailAppendAt(u64),
    /// `crash-after-events:N`.
    CrashAfterEvents(u64),
    /// `crash:POINT[:N]`.
    CrashAt(CrashPoint, u64),
}

/// A fault spelled in a way [`Fault`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {0:?}: expected fail-append:N, crash-after-events:N or crash:after-intent|before-outcome|after-outcome[:N]")]
pub struct UnknownFault(String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Fault, UnknownFault> {
        let unknown = || UnknownFault(s.to_string());
        let number = |n: &str| n.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(unknown);
        let mut parts = s.split(':');
        let fault = match (parts.next(), parts.next(), parts.next()) {
            (Some("fail-append"), Some(n), None) => Fault::FailAppendAt(number(n)?),
            (Some("crash-after-events"), Some(n), None) => Fault::CrashAfterEvents(number(n)?),
            (Some("crash"), Some(point), n) => Fault::CrashAt(
                CrashPoint::parse(point).ok_or_else(unknown)?,
                n.map(number).transpose()?.unwrap_or(1),
            ),
            _ => return Err(unknown()),
        };
        if parts.next().is_some() {
            return Err(unknown());
        }
        Ok(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::FailAppendAt(n) => write!(f, "fail-append:{n}"),
            Fault::CrashAfterEvents(n) => write!(f, "crash-after-events:{n}"),
            Fault::CrashAt(p, n) => write!(f, "crash:{}:{n}", p.name()),
        }
    }
}

/// Every fault of one process: empty (the default) in production.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// The writer's Nth append and every later one fail as a full disk does.
    pub fail_append_at: Option<u64>,
    /// Kill the process right after the journal holds this many events.
    pub crash_after_events: Option<u64>,
    /// Kill the process the Nth time the dispatcher passes this point.
    pub crash_at: Option<(CrashPoint, u64)>,
}

impl FaultPlan {
    /// The plan holding these faults (a later fault of a kind replaces an earlier one).
    pub fn of(faults: impl IntoIterator<Item = Fault>) -> FaultPlan {
        let mut plan = FaultPlan::default();
        for fault in faults {
            match fault {
                Fault::FailAppendAt(n) => plan.fail_append_at = Some(n),
                Fault::CrashAfterEvents(n) => plan.crash_after_events = Some(n),
                Fault::CrashAt(p, n) => plan.crash_at = Some((p, n)),
            }
        }
        plan
    }
}

/// An abrupt, uncooperative death: no destructor runs and nothing is flushed beyond what is
/// already durable, as when a laptop dies.
pub(crate) fn kill_now() -> ! {
    #[cfg(unix)]
    // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_from_their_spelling_and_back() {
        for s in [
            "fail-append:3",
            "crash-after-events:30",
            "crash:after-intent:1",
            "crash:before-outcome:7",
            "crash:after-outcome:2",
        ] {
            assert_eq!(s.parse::<Fault>().unwrap().to_string(), s);
        }
        assert_eq!(
            "crash:after-intent".parse::<Fault>(),
            Ok(Fault::CrashAt(CrashPoint::AfterIntent, 1))
        );
        for bad in [
            "",
            "fail-append",
            "fail-append:0",
            "fail-append:x",
            "crash:later",
            "crash:after-intent:1:2",
            "explode:1",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
        let plan = FaultPlan::of([Fault::FailAppendAt(2), Fault::CrashAfterEvents(9)]);
        assert_eq!(plan.fail_append_at, Some(2));
        assert_eq!(plan.crash_after_events, Some(9));
        assert_eq!(plan.crash_at, None);
    }
}
