//! Windows process control for the shell adapter: each command is put in its own Job Object,
//! so that a timeout kills the command and every process it started (PowerShell's children
//! too), as a process group does on unix. It must never terminate a job it did not create;
//! the job's handle is closed, without terminating anything, once the command has ended.
//!
//! A process is assigned to the job just after it is created: one that the command starts in
//! that instant, before the assignment, is outside the job (PowerShell takes far longer than
//! that to load before it runs anything). Processes started after the assignment belong to
//! the job whatever they do, unless the job allows breaking away, which this one does not.

use std::os::windows::io::RawHandle;
use std::process::ExitStatus;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, TerminateJobObject,
};

/// Exit code given to the processes of a job terminated on timeout.
const KILLED_EXIT_CODE: u32 = 1;

/// Nothing to set before the spawn: the job is made for the running child.
pub fn configure(_command: &mut tokio::process::Command) {}

/// The Job Object holding a running child and its descendants; terminated on [`Group::kill`]
/// or when dropped armed.
pub struct Group {
    job: Option<Job>,
}

/// An owned job handle, closed on drop (closing it does not end the processes in it).
struct Job(HANDLE);

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: the handle was returned by CreateJobObjectW, is owned by this value alone,
        // and is closed once.
        unsafe {
            CloseHandle(self.0);
        }
    }
}

// SAFETY: a job handle is a kernel handle, usable from any thread.
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

impl Group {
    /// A new job holding `child` (none if the job cannot be made or the child has ended:
    /// then a timeout kills the direct child alone, through tokio).
    pub fn of(child: &tokio::process::Child) -> Group {
        Group {
            job: child.raw_handle().and_then(job_for),
        }
    }

    /// Terminates every process in the job. Call before reaping the child.
    pub fn kill(&mut self) {
        if let Some(job) = &self.job {
            // SAFETY: `job.0` is a live job handle owned by this group.
            unsafe {
                TerminateJobObject(job.0, KILLED_EXIT_CODE);
            }
        }
    }

    /// Forgets the job once the command has ended normally or been killed.
    pub fn disarm(&mut self) {
        self.job = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Still armed means the run was cancelled mid-command: leave nothing running.
        self.kill();
    }
}

/// Creates an unnamed job and assigns the process `process` to it.
fn job_for(process: RawHandle) -> Option<Job> {
    // SAFETY: null attributes and a null name are allowed (default security, unnamed job).
    let handle = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
    if handle.is_null() {
        return None;
    }
    let job = Job(handle);
    // SAFETY: both handles are live: the job was just created, and `process` is the child's
    // handle, which tokio keeps open until the child is dropped.
    let assigned = unsafe { AssignProcessToJobObject(job.0, process as HANDLE) };
    (assigned != 0).then_some(job)
}

/// Windows has no signals: a process ends with an exit code, whoever ended it.
pub fn signal_of(_status: &ExitStatus) -> Option<i32> {
    None
}

#[cfg(test)]
mod tests {
    //! The tree kill, with real processes: this test binary runs itself again as a command
    //! that starts a grandchild (itself once more) and then outlives its timeout. Each role is
    //! named by a test-name filter that matches no test, read back from the arguments.

    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use crate::shell::{run, ShellCommand, ShellOutcome};

    const HELPER: &str = "shell::windows::tests::helper_process";

    fn helper(role: &str, dir: &Path, timeout: Duration) -> ShellCommand {
        ShellCommand {
            program: std::env::current_exe()
                .expect("test binary")
                .display()
                .to_string(),
            args: vec![
                "--exact".into(),
                HELPER.into(),
                "--test-threads=1".into(),
                format!("role-{role}"),
                format!("dir-{}", dir.display()),
            ],
            stdin: None,
            timeout,
            env_remove: vec![],
        }
    }

    /// Does nothing in a normal test run; plays `parent` or `grandchild` when asked to.
    #[test]
    fn helper_process() {
        let args: Vec<String> = std::env::args().collect();
        let find = |prefix: &str| {
            args.iter()
                .find_map(|a| a.strip_prefix(prefix))
                .map(str::to_string)
        };
        let (Some(role), Some(dir)) = (find("role-"), find("dir-")) else {
            return;
        };
        let dir = PathBuf::from(dir);
        match role.as_str() {
            "parent" => {
                let me = helper("grandchild", &dir, Duration::ZERO);
                let _grandchild = std::process::Command::new(&me.program)
                    .args(&me.args)
                    .spawn()
                    .expect("start the grandchild");
                std::thread::sleep(Duration::from_secs(60));
            }
            "grandchild" => {
                std::fs::write(dir.join("started"), "").expect("write started");
                std::thread::sleep(Duration::from_secs(4));
                std::fs::write(dir.join("survived"), "").expect("write survived");
            }
            other => panic!("unknown role {other}"),
        }
    }

    #[test]
    fn a_timeout_ends_the_grandchildren_too() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(&helper("parent", dir.path(), Duration::from_secs(3))));
        assert!(
            matches!(outcome, ShellOutcome::TimedOut { .. }),
            "{outcome:?}"
        );
        assert!(
            dir.path().join("started").exists(),
            "the grandchild never started, so nothing was shown"
        );
        // Past the moment the grandchild would have written `survived` had it lived.
        std::thread::sleep(Duration::from_secs(8).saturating_sub(started.elapsed()));
        assert!(
            !dir.path().join("survived").exists(),
            "the grandchild outlived its parent's timeout"
        );
    }
}
