//! Named network namespaces, compatible with `ip netns` (a bind mount of the
//! namespace under `/run/netns/NAME`), made with syscalls, not by spawning `ip`.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Where `ip netns` keeps its named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The path of a named namespace.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Creates the named namespace. Fails if it exists.
pub fn create(name: &str) -> io::Result<()> {
    prepare_dir()?;
    let target = path(name);
    // create_new: an existing namespace of that name is never taken over.
    File::options().write(true).create_new(true).open(&target)?;
    // unshare() moves the calling thread only: do it in a thread of its own,
    // which ends right after, so no other thread changes namespace.
    let result = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<()> {
            unshare(CloneFlags::CLONE_NEWNET)?;
            let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
            mount(
                Some(own.as_str()),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&target);
    }
    result
}

/// Makes /run/netns a shared mount point, as `ip netns add` does, so that
/// namespaces mounted there are seen from other mount namespaces too.
fn prepare_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_DIR)?;
    let flags = MsFlags::MS_SHARED | MsFlags::MS_REC;
    if mount(None::<&str>, NETNS_DIR, Some("none"), flags, None::<&str>).is_err() {
        // Not a mount point yet: bind it onto itself first.
        mount(
            Some(NETNS_DIR),
            NETNS_DIR,
            Some("none"),
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )?;
        mount(None::<&str>, NETNS_DIR, Some("none"), flags, None::<&str>)?;
    }
    Ok(())
}

/// Removes the named namespace (the kernel frees it once no process or
/// socket holds it). A namespace that is already gone is not an error.
pub fn delete(name: &str) -> io::Result<()> {
    let target = path(name);
    if !target.exists() {
        return Ok(());
    }
    // EINVAL: not mounted (a half-made namespace); the file still goes.
    match umount2(&target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(&target) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The names of all named namespaces.
pub fn list() -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Opens a named namespace, to enter it or to hand it to netlink.
pub fn open(name: &str) -> io::Result<File> {
    File::open(path(name))
        .map_err(|e| io::Error::new(e.kind(), format!("network namespace {name}: {e}")))
}

/// Runs `f` on a thread of its own inside the namespace: sockets that `f`
/// opens belong to that namespace for good, while the caller's threads
/// stay where they are.
pub fn run_in<R: Send>(ns: &File, f: impl FnOnce() -> R + Send) -> io::Result<R> {
    std::thread::scope(|s| {
        s.spawn(|| -> io::Result<R> {
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)?;
            Ok(f())
        })
        .join()
        .map_err(|_| io::Error::other("thread inside a namespace panicked"))?
    })
}

/// Moves the calling thread into the namespace (for a process about to exec).
pub fn enter(ns: &File) -> io::Result<()> {
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)?;
    Ok(())
}

/// The processes whose network namespace is this one.
pub fn pids_in(ns: &File) -> io::Result<Vec<i32>> {
    let meta = ns.metadata()?;
    let (dev, ino) = (meta.dev(), meta.ino());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")?.filter_map(|e| e.ok()) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // Processes vanish while we look: skip what cannot be read.
        if let Ok(m) = std::fs::metadata(entry.path().join("ns/net")) {
            if m.dev() == dev && m.ino() == ino {
                pids.push(pid);
            }
        }
    }
    Ok(pids)
}
