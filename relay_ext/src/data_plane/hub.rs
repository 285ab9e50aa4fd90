//! Where the server's calls meet Python: new calls waiting for a decision, calls with
//! queued items, and the waker that tells the event loop to look.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::call::{Abort, Call, Item};
use super::waker::Waker;

#[derive(Default)]
struct News {
    arrivals: Vec<Arc<Call>>,
    ready: Vec<u64>,
}

pub struct Hub {
    pub waker: Waker,
    pub queue_depth: usize,
    news: Mutex<News>,
    live: Mutex<HashMap<u64, Weak<Call>>>,
    next_key: AtomicU64,
    closed: AtomicBool,
}

impl Hub {
    pub fn new(queue_depth: usize) -> io::Result<Self> {
        Ok(Hub {
            waker: Waker::new()?,
            queue_depth,
            news: Mutex::new(News::default()),
            live: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        })
    }

    fn news(&self) -> std::sync::MutexGuard<'_, News> {
        self.news.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Weak<Call>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new call, announced to Python for its decision. None once the hub is closed.
    pub fn arrive(&self, call_id: String, peer_cert: Vec<u8>, peer: String) -> Option<Arc<Call>> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let call = Arc::new(Call::new(key, call_id, peer_cert, peer, self.queue_depth));
        self.live().insert(key, Arc::downgrade(&call));
        self.news().arrivals.push(call.clone());
        self.waker.wake();
        Some(call)
    }

    pub fn depart(&self, key: u64) {
        self.live().remove(&key);
    }

    pub fn push(&self, call: &Call, item: Item) {
        if call.push(item) {
            self.news().ready.push(call.key);
            self.waker.wake();
        }
    }

    /// Python's side of a wake-up: re-arm the waker, then take the news.
    pub fn poll(&self) -> (Vec<Arc<Call>>, Vec<u64>) {
        self.waker.reset();
        let mut news = self.news();
        (std::mem::take(&mut news.arrivals), std::mem::take(&mut news.ready))
    }

    pub fn close_all(&self, reason: &str) {
        self.closed.store(true, Ordering::Release);
        let calls: Vec<Arc<Call>> = self.live().values().filter_map(Weak::upgrade).collect();
        for call in calls {
            call.finish(Some(Abort::cancelled(reason)));
        }
    }
}
