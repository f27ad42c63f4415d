//! The named situations a drill can rehearse, each one a fault that real failovers meet.
//!
//! A scenario only bends the data center `init` builds (datacenter.rs); what each one breaks,
//! what a DBA expects and how a drill must end are in docs/drill.md.

use std::fmt;
use std::str::FromStr;

/// A drill scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Everything as it should be.
    Normal,
    /// An out-of-band log backup taken elsewhere leaves a hole in the LSN chain on the share:
    /// every file is present, one does not follow on from the previous one.
    LsnGap,
    /// The copy job lagged behind the share's retention, which deleted the oldest files,
    /// one of them never copied.
    MissingFile,
    /// A not-yet-copied log backup, taken `WITH CHECKSUM`, has a changed byte in its payload.
    CorruptFile,
    /// The secondary is in STANDBY and two readers hold the database: restores fail with
    /// 3101 until they are ended.
    SessionsHoldingDb,
    /// The Central Management Store cannot be reached: every Lync cmdlet that needs it fails.
    CmsUnreachable,
    /// The backup share cannot be reached (it lived in the failed data center).
    ShareUnreachable,
    /// The log-shipping restore job is running and holds the database.
    RestoreJobRunning,
    /// One not-yet-copied share file's header cannot be read (3241).
    UnreadableHeader,
    /// A not-yet-copied file, written without backup checksums, has a changed payload byte:
    /// `RESTORE VERIFYONLY` passes, `RESTORE LOG` fails (3203).
    CorruptNoChecksum,
    /// The secondary restores `WITH STANDBY`: `mgc` is ONLINE, read-only, in standby, with a
    /// reporting session reading it.
    StandbySecondary,
    /// An Agent job that has nothing to do with log shipping runs throughout.
    UnrelatedJobRunning,
    /// Before the tool was started someone disabled the jobs, removed log shipping and
    /// restored some logs by hand.
    PartialPreviousAttempt,
    /// The log-shipping restore job was killed in the middle of a restore: the next restore
    /// of another file fails with 4319.
    KilledRestore,
    /// The backup store's designated mirror (BAK-M) does not answer.
    MirrorNotReady,
    /// The server's TLS certificate is not signed by the CA the drill pins.
    TlsWrongCa,
    /// A round trip: the failover as in `normal`, then the primary data center comes back
    /// rebuilt and the failback runs.
    FailbackNormal,
    /// A round trip whose rebuilt primary has a Persistent Chat server still connected to the
    /// re-created `mgc`: a restore over it fails with 3101 until the session is ended.
    FailbackPrimaryInUse,
}

/// Every scenario, in documentation order.
pub const ALL: [Scenario; 18] = [
    Scenario::Normal,
    Scenario::LsnGap,
    Scenario::MissingFile,
    Scenario::CorruptFile,
    Scenario::SessionsHoldingDb,
    Scenario::CmsUnreachable,
    Scenario::ShareUnreachable,
    Scenario::RestoreJobRunning,
    Scenario::UnreadableHeader,
    Scenario::CorruptNoChecksum,
    Scenario::StandbySecondary,
    Scenario::UnrelatedJobRunning,
    Scenario::PartialPreviousAttempt,
    Scenario::KilledRestore,
    Scenario::MirrorNotReady,
    Scenario::TlsWrongCa,
    Scenario::FailbackNormal,
    Scenario::FailbackPrimaryInUse,
];

/// Help text of `--scenario`, naming every scenario (a test keeps it complete).
pub const HELP: &str = "The drill scenario: normal, lsn-gap, missing-file, corrupt-file, \
sessions-holding-db, cms-unreachable, share-unreachable, restore-job-running, \
unreadable-header, corrupt-no-checksum, standby-secondary, unrelated-job-running, \
partial-previous-attempt, killed-restore, mirror-not-ready, tls-wrong-ca, \
failback-normal or failback-primary-in-use (the last two are round trips: failover, then \
failback; docs/drill.md says what each breaks and how the drill must end)";

impl Scenario {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::LsnGap => "lsn-gap",
            Scenario::MissingFile => "missing-file",
            Scenario::CorruptFile => "corrupt-file",
            Scenario::SessionsHoldingDb => "sessions-holding-db",
            Scenario::CmsUnreachable => "cms-unreachable",
            Scenario::ShareUnreachable => "share-unreachable",
            Scenario::RestoreJobRunning => "restore-job-running",
            Scenario::UnreadableHeader => "unreadable-header",
            Scenario::CorruptNoChecksum => "corrupt-no-checksum",
            Scenario::StandbySecondary => "standby-secondary",
            Scenario::UnrelatedJobRunning => "unrelated-job-running",
            Scenario::PartialPreviousAttempt => "partial-previous-attempt",
            Scenario::KilledRestore => "killed-restore",
            Scenario::MirrorNotReady => "mirror-not-ready",
            Scenario::TlsWrongCa => "tls-wrong-ca",
            Scenario::FailbackNormal => "failback-normal",
            Scenario::FailbackPrimaryInUse => "failback-primary-in-use",
        }
    }

    /// The site's log backups are taken `WITH CHECKSUM`. Log shipping's own backup job does not
    /// ask for checksums unless the server default is changed, so most sites have none.
    pub fn backups_with_checksum(self) -> bool {
        self == Scenario::CorruptFile
    }

    /// A round-trip scenario: the failover, then the failback against the same data center.
    pub fn round_trip(self) -> bool {
        matches!(
            self,
            Scenario::FailbackNormal | Scenario::FailbackPrimaryInUse
        )
    }

    /// The secondary restores `WITH STANDBY` (`restore_mode = 1`), so `mgc` can have readers.
    pub fn standby(self) -> bool {
        matches!(
            self,
            Scenario::SessionsHoldingDb | Scenario::StandbySecondary
        )
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Scenario, String> {
        ALL.iter().copied().find(|x| x.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|x| x.name()).collect();
            format!(
                "unknown scenario {s:?}; expected one of: {}",
                names.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_text_names_every_scenario_and_names_parse_back() {
        for s in ALL {
            assert!(HELP.contains(s.name()), "{s} missing from HELP");
            assert_eq!(s.name().parse::<Scenario>(), Ok(s));
        }
        let e = "lsn_gap".parse::<Scenario>().unwrap_err();
        assert!(e.contains("lsn-gap") && !e.contains('\n'), "{e}");
    }
}
