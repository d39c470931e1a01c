//! Connection slots for a listener: a limit in all, a limit per client address, and who gives
//! way when the listener is full. Without them one client could hold every connection a
//! listener has (4,096 half-sent proxy requests from one address, 512 slow DNS-over-TCP
//! connections, 20,000 idle console connections that took the process's file descriptors and
//! with them every other front end).
//!
//! A connection is *waiting* until the client has sent something worth serving (a whole
//! request head, a ClientHello, a DNS query) and *busy* while it is served. When the listener
//! is full, or a client is at its own limit, the connection that has waited longest is asked to
//! give way ([`Slot::shed`] resolves) and the new one takes its place; a listener full of busy
//! connections refuses new ones. A client that opens connections and sends nothing therefore
//! loses them to clients that do.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use crate::canonical_ip;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The listener is full of connections being served.
    #[error("too many connections")]
    Full,
    /// This client has as many connections as it may, all being served.
    #[error("too many connections from one address")]
    ClientFull,
}

struct Entry {
    client: IpAddr,
    opened: Instant,
    busy: Arc<AtomicBool>,
    shed: Arc<Notify>,
}

#[derive(Default)]
struct Table {
    next: u64,
    entries: HashMap<u64, Entry>,
    per_client: HashMap<IpAddr, usize>,
}

impl Table {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(count) = self.per_client.get_mut(&entry.client) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&entry.client);
            }
        }
        Some(entry)
    }

    /// The waiting connection that has waited longest, of `client` if given.
    fn longest_waiting(&self, client: Option<IpAddr>) -> Option<u64> {
        self.entries
            .iter()
            .filter(|(_, entry)| client.is_none_or(|client| entry.client == client))
            .filter(|(_, entry)| !entry.busy.load(Ordering::Relaxed))
            .min_by_key(|(id, entry)| (entry.opened, **id))
            .map(|(id, _)| *id)
    }
}

/// The slots of one listener.
pub struct Slots {
    limit: usize,
    per_client: usize,
    table: Mutex<Table>,
    shed: AtomicU64,
    refused: AtomicU64,
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots")
            .field("limit", &self.limit)
            .field("per_client", &self.per_client)
            .field("open", &self.open())
            .finish_non_exhaustive()
    }
}

impl Slots {
    /// At most `limit` connections, at most `per_client` from one address.
    pub fn new(limit: usize, per_client: usize) -> Arc<Slots> {
        Arc::new(Slots {
            limit: limit.max(1),
            per_client: per_client.max(1),
            table: Mutex::default(),
            shed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// The most connections in all.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().entries.len()
    }

    /// Connections asked to give way since start.
    pub fn shed_count(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Connections refused since start.
    pub fn refused_count(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a new connection from `client`, making room by shedding the longest-waiting
    /// connection (the client's own first) if need be.
    pub fn admit(self: &Arc<Self>, client: IpAddr, now: Instant) -> Result<Slot, Refused> {
        let client = canonical_ip(client);
        let mut table = self.lock();
        if table.per_client.get(&client).copied().unwrap_or(0) >= self.per_client {
            let Some(id) = table.longest_waiting(Some(client)) else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::ClientFull);
            };
            self.shed_entry(&mut table, id);
        }
        if table.entries.len() >= self.limit {
            let Some(id) = table.longest_waiting(None) else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::Full);
            };
            self.shed_entry(&mut table, id);
        }
        table.next += 1;
        let id = table.next;
        let busy = Arc::new(AtomicBool::new(false));
        let shed = Arc::new(Notify::new());
        table.entries.insert(
            id,
            Entry {
                client,
                opened: now,
                busy: busy.clone(),
                shed: shed.clone(),
            },
        );
        *table.per_client.entry(client).or_default() += 1;
        Ok(Slot {
            slots: self.clone(),
            id,
            busy,
            shed,
        })
    }

    fn shed_entry(&self, table: &mut Table, id: u64) {
        if let Some(entry) = table.remove(id) {
            // The connection's task sees this and closes; its slot is free from now.
            entry.shed.notify_one();
            self.shed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One admitted connection's slot, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    busy: Arc<AtomicBool>,
    shed: Arc<Notify>,
}

impl Slot {
    /// The connection is being served: it is not shed while so.
    pub fn busy(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }

    /// The connection is waiting for its client again (between DNS queries, say).
    pub fn waiting(&self) {
        self.busy.store(false, Ordering::Relaxed);
    }

    /// A handle the connection's code can mark busy or waiting.
    pub fn state(&self) -> SlotState {
        SlotState(self.busy.clone())
    }

    /// Resolves when the connection is asked to give way to a newer one.
    pub async fn shed(&self) {
        self.shed.notified().await
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().remove(self.id);
    }
}

/// Marks a connection busy or waiting, from code that does not hold its [`Slot`].
#[derive(Debug, Clone)]
pub struct SlotState(Arc<AtomicBool>);

impl SlotState {
    /// Being served.
    pub fn busy(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Waiting for the client.
    pub fn waiting(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[tokio::test]
    async fn a_client_at_its_limit_loses_its_longest_waiting_connection() {
        let slots = Slots::new(100, 2);
        let start = Instant::now();
        let first = slots.admit(ip("10.0.0.1"), start).expect("first");
        let second = slots
            .admit(ip("10.0.0.1"), start + Duration::from_millis(1))
            .expect("second");
        second.busy();
        let third = slots
            .admit(ip("10.0.0.1"), start + Duration::from_millis(2))
            .expect("third takes the first's place");
        tokio::time::timeout(Duration::from_secs(1), first.shed())
            .await
            .expect("the first is asked to give way");
        third.busy();
        assert_eq!(
            slots
                .admit(ip("10.0.0.1"), start + Duration::from_millis(3))
                .expect_err("both busy"),
            Refused::ClientFull
        );
        assert!(slots.admit(ip("10.0.0.2"), start).is_ok(), "others get in");
        drop(first);
        assert_eq!(slots.open(), 2, "the shed one's slot was already free");
    }

    #[tokio::test]
    async fn a_full_listener_sheds_the_longest_waiting_of_anyone() {
        let slots = Slots::new(3, 3);
        let start = Instant::now();
        let slow = slots.admit(ip("10.0.0.9"), start).expect("slow");
        let busy: Vec<Slot> = (1..=2u8)
            .map(|n| {
                let slot = slots
                    .admit(
                        IpAddr::from([10, 0, 1, n]),
                        start + Duration::from_millis(5),
                    )
                    .expect("busy");
                slot.busy();
                slot
            })
            .collect();
        let newcomer = slots
            .admit(ip("10.0.0.7"), start + Duration::from_millis(9))
            .expect("room is made");
        tokio::time::timeout(Duration::from_secs(1), slow.shed())
            .await
            .expect("the slow one gives way");
        newcomer.busy();
        assert_eq!(
            slots
                .admit(ip("10.0.0.8"), start + Duration::from_millis(10))
                .expect_err("all busy"),
            Refused::Full
        );
        assert_eq!(slots.shed_count(), 1);
        assert_eq!(slots.refused_count(), 1);
        drop(busy);
        assert_eq!(slots.open(), 1);
    }

    #[test]
    fn ipv4_mapped_addresses_are_one_client() {
        let slots = Slots::new(10, 1);
        let now = Instant::now();
        let slot = slots.admit(ip("10.0.0.1"), now).expect("one");
        slot.busy();
        assert!(slots.admit(ip("::ffff:10.0.0.1"), now).is_err());
    }
}
