//! Unix process control for the shell adapter: each command runs as the leader of its own
//! process group, so that a timeout kills the script and everything it started, and a killed
//! command's signal is reported. It must never signal a group it did not create (the guard is
//! disarmed once the leader has been reaped, before its id can be reused).

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// Makes the child the leader of a new process group (its group id is its pid).
pub fn configure(command: &mut tokio::process::Command) {
    command.process_group(0);
}

/// The process group of a running child; killed on [`Group::kill`] or when dropped armed.
pub struct Group {
    pgid: Option<libc::pid_t>,
}

impl Group {
    /// The group led by `child` (none if the child has already been reaped).
    pub fn of(child: &tokio::process::Child) -> Group {
        Group {
            pgid: child.id().and_then(|id| libc::pid_t::try_from(id).ok()),
        }
    }

    /// Sends SIGKILL to every process of the group. Call before reaping the leader: while it
    /// is unreaped (even a zombie) its pid, hence the group id, cannot be reused.
    pub fn kill(&mut self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: kill(2) takes plain integers and touches no memory of ours; a negative
            // pid addresses the process group we created for this command.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }

    /// Forgets the group once the command has ended normally or been killed.
    pub fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Still armed means the run was cancelled mid-command: leave nothing running.
        self.kill();
    }
}

/// The signal that ended the process, if one did.
pub fn signal_of(status: &ExitStatus) -> Option<i32> {
    status.signal()
}
