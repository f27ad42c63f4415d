//! The named situations a drill can rehearse, each one a fault that real failovers meet
//! (domain.md §7).

use std::fmt;
use std::str::FromStr;

/// A drill scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Everything as it should be.
    Normal,
    /// An out-of-band log backup taken elsewhere leaves a hole in the LSN chain on the share
    /// (§7.1): every file is present, one does not follow on from the previous one.
    LsnGap,
    /// Retention deleted a log backup from the share before the copy job copied it (§7.2).
    MissingFile,
    /// A not-yet-copied log backup on the share has a changed byte in its payload.
    CorruptFile,
    /// Two other sessions hold the database: restores fail with 3101 until they are killed.
    SessionsHoldingDb,
    /// The Central Management Store cannot be reached: every Lync cmdlet fails (§7.10).
    CmsUnreachable,
    /// The backup share cannot be reached (it lived in the failed data center, §1.1).
    ShareUnreachable,
    /// The log-shipping restore job is running and holds the database (§7.6).
    RestoreJobRunning,
}

/// Every scenario, in documentation order.
pub const ALL: [Scenario; 8] = [
    Scenario::Normal,
    Scenario::LsnGap,
    Scenario::MissingFile,
    Scenario::CorruptFile,
    Scenario::SessionsHoldingDb,
    Scenario::CmsUnreachable,
    Scenario::ShareUnreachable,
    Scenario::RestoreJobRunning,
];

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
        }
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
