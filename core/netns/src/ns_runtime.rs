//! A tokio runtime on a thread of its own inside a lab host's namespace:
//! how tests, the demo and the benchmarks run a server node in-process.
//! Every socket its tasks open belongs to that namespace.

use std::fs::File;
use std::future::Future;
use std::io;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A current-thread runtime running inside one namespace until dropped.
pub struct NsRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NsRuntime {
    /// Starts the runtime's thread inside `ns`.
    pub fn start(ns: &File) -> io::Result<NsRuntime> {
        let ns = ns.try_clone()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gecko-ns".into())
            .spawn(move || {
                let rt = super::netns::enter(&ns).and_then(|()| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                });
                match rt {
                    Ok(rt) => {
                        let _ = ready_tx.send(Ok(rt.handle().clone()));
                        // Tasks spawned through the handle run while this
                        // thread waits here.
                        let _ = rt.block_on(stopped);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        let handle = ready_rx
            .recv()
            .map_err(|_| io::Error::other("namespace thread ended early"))??;
        Ok(NsRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `fut` inside the namespace and waits for its result (from a
    /// thread that is not itself a runtime thread).
    pub fn block_on<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> io::Result<T> {
        let task = self.handle.spawn(fut);
        futures::executor::block_on(task).map_err(|e| io::Error::other(format!("task: {e}")))
    }

    /// Spawns `fut` inside the namespace without waiting.
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(fut);
    }
}

impl Drop for NsRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
