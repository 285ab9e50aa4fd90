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

#[cfg(test)]
mod tests {
    use super::*;

    fn arrive(hub: &Hub, id: &str) -> Arc<Call> {
        hub.arrive(id.to_string(), vec![], "ipv4:127.0.0.1:1".to_string()).expect("the hub is open")
    }

    #[test]
    fn arrivals_are_handed_over_once_with_distinct_keys() {
        let hub = Hub::new(2).unwrap();
        let (a, b) = (arrive(&hub, "a"), arrive(&hub, "b"));
        assert_ne!(a.key, b.key);
        let (arrivals, ready) = hub.poll();
        assert_eq!(arrivals.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(ready.is_empty());
        let (arrivals, _) = hub.poll();
        assert!(arrivals.is_empty());
    }

    #[test]
    fn a_call_is_ready_once_until_python_drains_it() {
        let hub = Hub::new(2).unwrap();
        let call = arrive(&hub, "a");
        hub.poll();
        hub.push(&call, Item::End { records: 1 });
        hub.push(&call, Item::Closed(None));
        assert_eq!(hub.poll().1, [call.key]);
        assert!(call.take().is_some() && call.take().is_some() && call.take().is_none());
        hub.push(&call, Item::Closed(None));
        assert_eq!(hub.poll().1, [call.key]);
    }

    #[test]
    fn close_all_cancels_live_calls_and_refuses_new_ones() {
        let hub = Hub::new(2).unwrap();
        let live = arrive(&hub, "live");
        let gone = arrive(&hub, "gone");
        hub.depart(gone.key);
        hub.close_all("gateway stopping");
        assert_eq!(live.finished(), Some(Some(Abort::cancelled("gateway stopping"))));
        assert_eq!(gone.finished(), None); // departed: no longer the hub's to end
        assert!(hub.arrive("late".into(), vec![], String::new()).is_none());
    }

    #[test]
    fn a_call_python_dropped_is_not_kept_alive_by_the_hub() {
        let hub = Hub::new(2).unwrap();
        let call = arrive(&hub, "a");
        hub.poll();
        let weak = Arc::downgrade(&call);
        drop(call);
        assert!(weak.upgrade().is_none());
        hub.close_all("stop"); // a dead entry is skipped
    }
}
