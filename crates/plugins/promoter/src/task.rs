//! A spawned task that ends with its owner. The host cancels an instance that overran its
//! stop deadline by dropping its run future; a plain `JoinHandle` dropped with it would detach
//! the per-resource tasks, and their starts and stops would go on beside the next instance.
//!
//! Must never: outlive its handle (dropping it aborts the task; the commands the task runs
//! kill their process groups when their futures are dropped).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::task::{JoinError, JoinHandle};

/// A `JoinHandle` that aborts its task when dropped.
#[derive(Debug)]
pub struct Owned<T>(JoinHandle<T>);

impl<T: Send + 'static> Owned<T> {
    pub fn spawn(future: impl Future<Output = T> + Send + 'static) -> Owned<T> {
        Owned(tokio::spawn(future))
    }
}

impl<T> Owned<T> {
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
    pub fn abort(&self) {
        self.0.abort();
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Owned<T> {
    type Output = Result<T, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn dropping_the_handle_ends_the_task() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let task = Owned::spawn(async move {
            let _tx = tx;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        drop(task);
        // The task's future (and the sender it holds) is dropped: recv sees the end.
        let ended = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert_eq!(ended, Ok(None));
    }

    #[tokio::test]
    async fn an_awaited_task_gives_its_output() {
        assert_eq!(Owned::spawn(async { 7 }).await.unwrap(), 7);
    }
}
