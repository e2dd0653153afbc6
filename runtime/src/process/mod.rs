//! Child processes on the loop, in the shape of `tokio::process`: [`Command`] spawns, a
//! [`Child`] is awaited, and its piped stdin, stdout and stderr are async streams.
//!
//! ```
//! # runtime::Runtime::new()?.block_on(async {
//! use runtime::process::Command;
//!
//! let out = Command::new("echo").arg("hello").output().await?;
//! assert!(out.status.success());
//! assert_eq!(out.stdout, b"hello\n");
//! # Ok::<(), std::io::Error>(())
//! # })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Exit notification, without a thread
//!
//! A wait first asks `waitpid`: a child that has already exited costs nothing more.
//! For one that still runs, on Linux (5.3 and later), its pidfd is opened then and
//! registered in the reactor: it becomes readable when the child exits, and the wait
//! then collects the status with one more `waitpid`. Elsewhere (BSD, macOS), or when the kernel refuses a pidfd, the loop listens
//! for `SIGCHLD` through [`runtime::signal`](crate::signal): one listener per loop,
//! shared by its waiting children, each of which tries `waitpid` on its own pid after a
//! delivery. Neither path starts a thread, and spawning uses none (`posix_spawn`, or
//! `fork` and `exec`, on the calling thread).
//!
//! On FreeBSD and macOS the kqueue backend could watch each child with `EVFILT_PROC`
//! (`NOTE_EXIT`); the reactor does not expose that filter yet, so there the `SIGCHLD`
//! path is the one in use. The SIGCHLD path costs every waiting child of a loop one
//! `waitpid` per delivery, where a pidfd costs one `waitpid` per child in all.
//!
//! # Reaping
//!
//! Statuses are collected with `waitpid` on our own children's pids only, never
//! `waitpid(-1)`, so another part of the program that spawns and waits for its own
//! children (`std::process`, a C library) keeps its statuses. A [`Child`] dropped before
//! its exit was collected is still reaped later, so it leaves no zombie: see
//! [`Child`]'s "Dropping".
//!
//! # Living with other users of SIGCHLD
//!
//! - The `SIGCHLD` handler is installed (on the fallback path, or when a dropped child
//!   must be reaped) through `signal_hook_registry`, which chains to a handler installed
//!   before it. `SIGCHLD`'s default action is to ignore it, so installing a handler
//!   changes nothing else; a program that installs its own handler with `sigaction`
//!   afterwards, without chaining, stops the fallback path (pidfds are unaffected).
//! - A program that sets `SIGCHLD` to `SIG_IGN`, or calls `waitpid(-1)` (or
//!   `wait()`), takes our children's statuses: the kernel or that call reaps them first.
//!   [`Child::wait`] then fails with an error that says so, instead of hanging or
//!   reporting a wrong status. Such a program also gives up the guarantee that a pid
//!   we hold is still our child: once another call has reaped it, the pid may be
//!   reused by a later child of the process, whose status a wait on the old pid could
//!   then collect. This is the same contract `std::process::Child` has.
//! - Our own listener never reaps what is not ours: a delivery only makes each waiting
//!   [`Child`] (and the orphan queue) ask `waitpid` about its own pid, so a child that
//!   another part of the program spawned keeps its status for that part's `wait`.
//!
//! # Bad input
//!
//! A program that does not exist is `NotFound`, from [`Command::spawn`], with every fd
//! made for it closed again. Running out of fds during a spawn is an error of the
//! spawn (`EMFILE`), and the loop goes on. Writing to the stdin of a child that is gone
//! is `BrokenPipe`, never a `SIGPIPE`.

mod exit;
mod orphan;
mod pipes;

use std::ffi::OsStr;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::task::{Context, Poll};

pub use pipes::{ChildStderr, ChildStdin, ChildStdout};

use exit::ExitWatch;

/// A process builder, in the shape of `tokio::process::Command` (a
/// [`std::process::Command`] inside, plus [`kill_on_drop`](Command::kill_on_drop)).
///
/// By default [`spawn`](Command::spawn) and [`status`](Command::status) inherit stdin,
/// stdout and stderr; [`output`](Command::output) pipes stdout and stderr and gives the
/// child a null stdin, unless they were set. [`output`](Command::output) keeps its
/// choice: a later `spawn` of the same `Command` pipes them too (as tokio's does).
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    /// Whether a pidfd may watch the child (else `SIGCHLD`).
    allow_pidfd: bool,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl Command {
    /// A command that runs `program`, looked up in `PATH` if it has no `/`.
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// The std command inside.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The std command inside, to set what this type has no method for.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Adds an argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Gives the child an empty environment (plus what `env` adds afterwards).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Sets the child's stdin: [`Stdio::piped`] gives [`Child::stdin`].
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Sets the child's stdout: [`Stdio::piped`] gives [`Child::stdout`].
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Sets the child's stderr: [`Stdio::piped`] gives [`Child::stderr`].
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether dropping the [`Child`] before its exit was collected kills it (`SIGKILL`).
    /// Off by default, as in tokio: a dropped child runs on, and is reaped when it exits.
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// Watches the child through `SIGCHLD` even where pidfds exist: the path BSD and
    /// macOS take, made reachable for tests on Linux. Not part of the API.
    #[doc(hidden)]
    pub fn watch_with_sigchld(&mut self) -> &mut Command {
        self.allow_pidfd = false;
        self
    }

    /// Sets the child's user id (`setuid` in the child before `exec`).
    pub fn uid(&mut self, id: u32) -> &mut Command {
        std::os::unix::process::CommandExt::uid(&mut self.std, id);
        self
    }

    /// Sets the child's group id (`setgid` in the child before `exec`).
    pub fn gid(&mut self, id: u32) -> &mut Command {
        std::os::unix::process::CommandExt::gid(&mut self.std, id);
        self
    }

    /// Sets the child's `argv[0]`, which is otherwise the program.
    pub fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        std::os::unix::process::CommandExt::arg0(&mut self.std, arg);
        self
    }

    /// Puts the child in process group `pgroup` (`0`: a new group led by the child).
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        std::os::unix::process::CommandExt::process_group(&mut self.std, pgroup);
        self
    }

    /// Runs `f` in the child after `fork` and before `exec`; see
    /// [`std::os::unix::process::CommandExt::pre_exec`].
    ///
    /// # Safety
    ///
    /// As for std's `pre_exec`: `f` runs in a forked copy of a possibly multi-threaded
    /// process, so it may only call async-signal-safe functions, and must not allocate
    /// or take locks another thread may hold.
    pub unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller upholds `pre_exec`'s contract, which is this method's.
        unsafe { std::os::unix::process::CommandExt::pre_exec(&mut self.std, f) };
        self
    }

    /// The arguments, without the program.
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.std.get_args()
    }

    /// The environment changes made with `env`, `envs` and `env_remove`.
    pub fn get_envs(&self) -> std::process::CommandEnvs<'_> {
        self.std.get_envs()
    }

    /// The working directory set with [`current_dir`](Command::current_dir).
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.std.get_current_dir()
    }

    /// The std command inside, giving up [`kill_on_drop`](Command::kill_on_drop).
    pub fn into_std(self) -> std::process::Command {
        self.std
    }

    /// Whether [`kill_on_drop`](Command::kill_on_drop) is set.
    pub fn get_kill_on_drop(&self) -> bool {
        self.kill_on_drop
    }

    /// The program to run.
    pub fn get_program(&self) -> &OsStr {
        self.std.get_program()
    }

    /// Runs the command as a child process, watched by the current loop.
    ///
    /// Fails outside a runtime (before anything is spawned), with `NotFound` for a
    /// program that does not exist, and with the OS error when fds or processes run
    /// out. If the child started but its pipes could not be registered, it is killed,
    /// reaped, and the error returned. The exit watch (a pidfd, or the `SIGCHLD`
    /// listener) is made by the first wait that finds the child still running; if that
    /// fails (no fd left), the wait returns the error and a later wait tries again.
    pub fn spawn(&mut self) -> io::Result<Child> {
        reactor::Handle::try_current()?;
        if orphan::count() > 0 {
            orphan::reap();
        }
        let mut std_child = self.std.spawn()?;
        // From here a failure drops `child`, which kills the process and reaps it.
        let mut child = Child {
            pid: std_child.id(),
            status: None,
            watch: None,
            kill_on_drop: true,
            stdin: None,
            stdout: None,
            stderr: None,
        };
        child.stdin = std_child
            .stdin
            .take()
            .map(ChildStdin::from_std)
            .transpose()?;
        child.stdout = std_child
            .stdout
            .take()
            .map(ChildStdout::from_std)
            .transpose()?;
        child.stderr = std_child
            .stderr
            .take()
            .map(ChildStderr::from_std)
            .transpose()?;
        child.watch = Some(ExitWatch::new(self.allow_pidfd));
        child.kill_on_drop = self.kill_on_drop;
        Ok(child)
    }

    /// Spawns the command and waits for its exit. Stdin, stdout and stderr are
    /// inherited unless they were set; a piped stdin is closed before the wait.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        // Piped streams nobody can read are closed, so the child cannot block on them.
        child.stdin = None;
        child.stdout = None;
        child.stderr = None;
        child.wait().await
    }

    /// Spawns the command, collects its stdout and stderr, and waits for its exit.
    /// Stdout and stderr are piped, and stdin is null, unless they were set.
    pub async fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::piped());
        }
        self.spawn()?.wait_with_output().await
    }
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            allow_pidfd: true,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("std", &self.std)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}

/// A spawned child process, in the shape of `tokio::process::Child`.
///
/// # Dropping
///
/// Dropping a `Child` does not wait for it. If its exit was not collected yet:
/// with [`kill_on_drop`](Command::kill_on_drop) it gets `SIGKILL`; either way it is
/// adopted by the process-wide orphan queue, which reaps it once it exits (at once if it
/// already has, then by a `SIGCHLD` listener task on the loop that dropped it, and at every
/// later [`Command::spawn`]). No zombie is left behind while a loop runs.
///
/// That listener is an ordinary task of the loop, alive while the queue holds a child
/// that still runs: [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout)
/// counts it like any other task, so a dropped child that runs on keeps such a shutdown
/// waiting for its whole timeout. Set [`kill_on_drop`](Command::kill_on_drop), or wait
/// for the child, where that matters.
///
/// Like every evloop I/O type, a `Child` belongs to the loop that spawned it (`!Send`):
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<runtime::process::Child>();
/// ```
pub struct Child {
    pid: u32,
    /// The exit status, once collected; the pid is no longer ours then.
    status: Option<ExitStatus>,
    /// `None` only while `spawn` builds the child.
    watch: Option<ExitWatch>,
    kill_on_drop: bool,
    /// The write end of the child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The read end of the child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The read end of the child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// The child's pid, or `None` once its exit was collected (the pid may then belong to
    /// another process).
    pub fn id(&self) -> Option<u32> {
        self.status.is_none().then_some(self.pid)
    }

    /// Whether this child's exit is watched through a pidfd in the reactor (Linux 5.3
    /// and later), rather than through `SIGCHLD`. The watch is made by the first wait
    /// that finds the child still running, so this is false before that, and for a
    /// child that had exited by then.
    pub fn is_watched_by_pidfd(&self) -> bool {
        self.watch.as_ref().is_some_and(ExitWatch::is_pidfd)
    }

    /// Waits for the child to exit and returns its status. Stdin, if piped, is closed
    /// first, so a child that reads until end of file can finish.
    ///
    /// Cancel-safe: dropping the future loses nothing, and the next call goes on.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        let Some(watch) = &mut self.watch else {
            return Poll::Ready(Err(io::Error::other("the child is not watched")));
        };
        let status = std::task::ready!(watch.poll_exit(self.pid, cx))?;
        self.reaped(status);
        Poll::Ready(Ok(status))
    }

    fn reaped(&mut self, status: ExitStatus) {
        self.status = Some(status);
        // The pidfd and its registration are no longer needed.
        self.watch = None;
    }

    /// The status if the child has exited (collecting it), `None` if it still runs.
    /// Does not wait.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = exit::try_reap(self.pid)?;
        if let Some(status) = status {
            self.reaped(status);
        }
        Ok(status)
    }

    /// Sends `SIGKILL`, without waiting. A child whose exit was already collected is
    /// left alone (`Ok`).
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // SAFETY: `kill` takes a pid and a signal; the pid is our unreaped child's, so it
        // names that process (a zombie at worst) and no other.
        if unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends `SIGKILL` and waits for the child to exit.
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await.map(drop)
    }

    /// Waits for the exit while reading stdout and stderr (those that are piped) to
    /// their end; stdin is closed first.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut out_pipe = self.stdout.take();
        let mut err_pipe = self.stderr.take();
        poll_fn(|cx| {
            let out_done = match &mut out_pipe {
                Some(p) => pipes::poll_read_to_end(p, cx, &mut stdout)?.is_ready(),
                None => true,
            };
            if out_done {
                out_pipe = None;
            }
            let err_done = match &mut err_pipe {
                Some(p) => pipes::poll_read_to_end(p, cx, &mut stderr)?.is_ready(),
                None => true,
            };
            if err_done {
                err_pipe = None;
            }
            if out_pipe.is_none() && err_pipe.is_none() {
                Poll::Ready(Ok::<(), io::Error>(()))
            } else {
                Poll::Pending
            }
        })
        .await?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() || matches!(self.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        if self.kill_on_drop {
            let _ = self.start_kill();
        }
        orphan::adopt(self.pid);
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("status", &self.status)
            .field("pidfd", &self.is_watched_by_pidfd())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}
