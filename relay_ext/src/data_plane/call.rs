//! One DoGet call as both sides see it: the server task reading the connector's messages
//! and the Python query relaying them. The queue is bounded by `space` (a permit per
//! queued chunk, returned when Python takes it), so a slow browser stops the reads.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};
use tonic::Code;

use crate::error::RelayError;
use crate::tunnel;

/// What the call has for Python, in order.
#[derive(Debug)]
pub enum Item {
    /// Whole record batches: `message[offset..offset + len]` is the Arrow payload.
    /// `codec` and `declared`: as `tunnel::ChunkKind::Data`'s.
    Chunk { message: Bytes, offset: usize, len: usize, rows: u64, codec: u8, declared: u64 },
    /// A subscription's resume point (ArrowChunk.resume_at), the whole message, unparsed.
    Resume(Bytes),
    /// The end marker, with the row count the connector announces.
    End { records: i64 },
    /// The message failed its checks; nothing more is read from this call.
    Invalid(RelayError),
    /// The call ended: `None` when the connector closed its side, else why it broke.
    Closed(Option<String>),
    /// The call ended on a message over max_message_bytes, refused before it was read.
    TooLarge(String),
}

/// Sorts one raw ArrowChunk message into an item, checking it on the way (the same
/// classification as grpcio's DoGet path: `tunnel::classify_chunk`).
/// ArrowChunk.resume_at's tag (field 5, length-delimited): a message holding only it.
pub const RESUME_TAG: u8 = 0x2a;
/// A resume point's cursor is at most 1,536 bytes (docs/tunnel.md); its message, less than this.
pub const MAX_RESUME_BYTES: usize = 2048;

pub fn classify(message: Bytes) -> Item {
    if message.first() == Some(&RESUME_TAG) {
        if message.len() > MAX_RESUME_BYTES {
            return Item::Invalid(RelayError::TunnelMessage(format!(
                "a resume point of {} bytes (at most {MAX_RESUME_BYTES})",
                message.len()
            )));
        }
        return Item::Resume(message);
    }
    match tunnel::classify_chunk(&message) {
        Ok(tunnel::ChunkKind::End { records }) => Item::End { records },
        Ok(tunnel::ChunkKind::Data { offset, len, rows, codec, declared }) => {
            Item::Chunk { message, offset, len, rows, codec, declared }
        }
        Err(e) => Item::Invalid(e),
    }
}

/// Why the gateway ends a call early: its data was refused (INVALID_ARGUMENT, the status
/// message `INVALID_DATA: reason`), or the query no longer needs it (CANCELLED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort {
    pub invalid_data: bool,
    pub reason: String,
}

impl Abort {
    pub fn cancelled(reason: &str) -> Self {
        Abort { invalid_data: false, reason: reason.to_string() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Pending,
    Accepted,
    Rejected(Code, String),
}

struct State {
    queue: VecDeque<Item>,
    decision: Decision,
    /// Set by Python: `Some(None)` = answer OK, `Some(Some(reason))` = CANCELLED.
    finished: Option<Option<Abort>>,
    /// The call is on the hub's ready list and Python has not yet emptied its queue.
    announced: bool,
}

pub struct Call {
    pub key: u64,
    pub call_id: String,
    pub peer_cert: Vec<u8>,
    /// The remote address, as grpc writes it ("ipv4:127.0.0.1:5000"), for logs.
    pub peer: String,
    state: Mutex<State>,
    space: Semaphore,
    changed: Notify,
}

impl Call {
    pub fn new(key: u64, call_id: String, peer_cert: Vec<u8>, peer: String, depth: usize) -> Self {
        Call {
            key,
            call_id,
            peer_cert,
            peer,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                decision: Decision::Pending,
                finished: None,
                announced: false,
            }),
            space: Semaphore::new(depth.max(1)),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // --- the Python side

    pub fn decide(&self, decision: Decision) {
        let mut st = self.lock();
        if st.decision == Decision::Pending {
            st.decision = decision;
        }
        drop(st);
        self.changed.notify_one();
    }

    pub fn finish(&self, abort: Option<Abort>) {
        let mut st = self.lock();
        if st.finished.is_none() {
            st.finished = Some(abort);
        }
        drop(st);
        self.changed.notify_one();
    }

    /// The next item, or None when the queue is empty (the call is then announced again
    /// with its next item).
    pub fn take(&self) -> Option<Item> {
        let mut st = self.lock();
        let item = st.queue.pop_front();
        match &item {
            None => st.announced = false,
            Some(Item::Chunk { .. } | Item::Resume(_)) => self.space.add_permits(1),
            Some(_) => {}
        }
        item
    }

    // --- the server side

    pub fn decision(&self) -> Decision {
        self.lock().decision.clone()
    }

    pub fn finished(&self) -> Option<Option<Abort>> {
        self.lock().finished.clone()
    }

    /// Queues `item`; true when the call must be announced to Python.
    pub fn push(&self, item: Item) -> bool {
        let mut st = self.lock();
        st.queue.push_back(item);
        !std::mem::replace(&mut st.announced, true)
    }

    /// Runs `fut` until it completes or Python finishes the call (`Err(reason)`).
    pub async fn until_finished<T>(&self, fut: impl Future<Output = T>) -> Result<T, Option<Abort>> {
        tokio::pin!(fut);
        loop {
            if let Some(reason) = self.finished() {
                return Err(reason);
            }
            tokio::select! {
                value = &mut fut => return Ok(value),
                () = self.changed.notified() => {}
            }
        }
    }

    /// Waits for Python to finish the call; its abort reason, if any.
    pub async fn wait_finished(&self) -> Option<Abort> {
        loop {
            if let Some(reason) = self.finished() {
                return reason;
            }
            self.changed.notified().await;
        }
    }

    /// Waits for Python's accept or reject (or an early finish). A decision taken wins
    /// over a finish that came after it (Python rejects, then drops the call).
    pub async fn decided(&self) -> Result<Decision, Option<Abort>> {
        loop {
            let d = self.decision();
            if d != Decision::Pending {
                return Ok(d);
            }
            if let Some(reason) = self.finished() {
                return Err(reason);
            }
            self.changed.notified().await;
        }
    }

    /// Waits for a queue slot for one more chunk.
    pub async fn room(&self) {
        if let Ok(permit) = self.space.acquire().await {
            permit.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_marker(records: u8) -> Bytes {
        Bytes::from(vec![0x10, 0x01, 0x18, records])
    }

    #[test]
    fn classifies_resume_points_by_their_tag_and_bounds_them() {
        let point = Bytes::from_static(&[0x2a, 0x03, 0x0a, 0x01, b'c']);
        assert!(matches!(classify(point.clone()), Item::Resume(m) if m == point));
        let mut big = vec![0x2a, 0x00];
        big.resize(MAX_RESUME_BYTES + 1, 0);
        assert!(matches!(classify(Bytes::from(big)), Item::Invalid(_)));
    }

    #[test]
    fn classifies_end_and_garbage() {
        assert!(matches!(classify(end_marker(5)), Item::End { records: 5 }));
        assert!(matches!(classify(Bytes::from_static(&[0x0a, 0x02, 1, 2])), Item::Invalid(_)));
        assert!(matches!(classify(Bytes::from_static(&[0x80])), Item::Invalid(_)));
    }

    #[test]
    fn announces_once_until_drained() {
        let call = Call::new(1, "c".into(), vec![], String::new(), 2);
        assert!(call.push(Item::End { records: 0 }));
        assert!(!call.push(Item::Closed(None)));
        assert!(call.take().is_some());
        assert!(call.take().is_some());
        assert!(call.take().is_none());
        assert!(call.push(Item::Closed(None)));
    }

    #[test]
    fn first_decision_and_finish_win() {
        let call = Call::new(1, "c".into(), vec![], String::new(), 2);
        call.decide(Decision::Accepted);
        call.decide(Decision::Rejected(Code::NotFound, "x".into()));
        assert_eq!(call.decision(), Decision::Accepted);
        call.finish(Some(Abort::cancelled("stop")));
        call.finish(None);
        assert_eq!(call.finished(), Some(Some(Abort::cancelled("stop"))));
    }
}
