//! Where the endpoint's work runs: a thread of its own with its own runtime (accepting,
//! reading requests, sending bodies) and a pool of render threads, all at background
//! priority (nice 10), so that a scrape, or a burst of them, takes the CPU only when the
//! daemon's event pipeline (reader, core, change plugins) leaves it idle.
//!
//! Why: on a small machine a render uses every core and sending 100 bodies keeps the
//! runtime's workers busy; on the daemon's shared runtime both delayed the core and the
//! change plugins' commands. Must never: raise a priority (a daemon must not need
//! CAP_SYS_NICE), or fail the plugin because the priority could not be lowered.

use std::sync::OnceLock;

/// The nice value of the endpoint's threads (the daemon's run at 0).
pub const NICE: i32 = 10;

/// Lowers the calling thread's priority to [`NICE`] unless it is lower already (a thread's nice
/// value is its own on Linux; threads it starts inherit it). A failure leaves it as it was.
pub fn lower_priority() {
    let me = Some(rustix::thread::gettid());
    if rustix::process::getpriority_process(me).is_ok_and(|nice| nice >= NICE) {
        return;
    }
    if let Err(e) = rustix::process::setpriority_process(me, NICE) {
        log::debug!(target: crate::server::TARGET, "cannot lower the priority of a metrics thread: {e}");
    }
}

/// The render pool: one long-lived thread per core at background priority (threads started
/// per render left their allocator heaps behind when they ended). None if no thread could be
/// started: renders then run on the calling thread.
pub fn render_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("prom-render-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|e| {
                log::warn!(target: crate::server::TARGET, "no render threads ({e}): rendering on one thread");
            })
            .ok()
    })
    .as_ref()
}

/// Runs `job` on a new thread at background priority with a runtime of its own, and waits
/// for its result without blocking the caller's runtime. A panic in `job` is resumed here,
/// so the host sees it as this plugin's panic.
pub async fn on_own_thread<F, Fut, T>(name: &str, job: F) -> Result<T, String>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let (done, result) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            lower_priority();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime: {e}"));
            let _ = done.send(runtime.map(|rt| rt.block_on(job())));
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    match result.await {
        Ok(r) => r,
        // The thread ended without a result: it panicked; hand the panic on.
        Err(_) => match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            _ => Err("the metrics thread ended without a result".to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("nice")
    }

    #[tokio::test]
    async fn the_endpoint_thread_runs_at_background_priority_and_returns_its_result() {
        let before = own_nice();
        let nice = on_own_thread("test", || async { own_nice() })
            .await
            .unwrap();
        assert_eq!(nice, NICE.max(before));
        assert_eq!(own_nice(), before, "the caller's priority is left alone");
    }

    #[test]
    fn render_threads_run_at_background_priority() {
        let pool = render_pool().expect("threads");
        let nices = pool.broadcast(|_| own_nice());
        assert!(nices.iter().all(|&n| n >= NICE), "{nices:?}");
    }

    #[tokio::test]
    async fn a_panic_on_the_endpoint_thread_reaches_the_caller_as_a_panic() {
        let caught = tokio::spawn(on_own_thread("test", || async { panic!("boom") })).await;
        let panic = caught.expect_err("a panic").into_panic();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom"));
    }
}
