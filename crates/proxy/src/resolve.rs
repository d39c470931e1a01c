//! Server names to addresses, remembered for a short while.
//!
//! Every new server connection needs the server's addresses. The system resolver
//! (`getaddrinfo`) blocks, so each lookup takes a thread from the runtime's blocking pool: a
//! thousand clients opening connections to one site at once would start hundreds of threads,
//! all asking the same question. Here one lookup per name answers everyone waiting for it, and
//! its answer is kept for [`ANSWER_TIME`]. `getaddrinfo` does not say how long an answer may be
//! kept, so the time is short: a site that moves is followed within it. Failures are not kept.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// How long an answer is used before the name is looked up again.
pub const ANSWER_TIME: Duration = Duration::from_secs(30);
/// Most names remembered; beyond it, expired names are dropped, then all.
const MOST_NAMES: usize = 10_000;

type Answer = Result<Arc<[IpAddr]>, (io::ErrorKind, String)>;

struct Entry {
    answer: Arc<OnceCell<Answer>>,
    asked: Instant,
}

/// A cache in front of the system resolver, with one lookup in flight per name.
pub struct Resolver {
    names: Mutex<HashMap<String, Entry>>,
    timeout: Duration,
    lookups: std::sync::atomic::AtomicU64,
}

impl Resolver {
    /// A resolver whose lookups fail after `timeout`.
    pub fn new(timeout: Duration) -> Resolver {
        Resolver {
            names: Mutex::default(),
            timeout,
            lookups: Default::default(),
        }
    }

    /// Lookups sent to the system resolver since start.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The addresses of `name`, from the cache or from one lookup shared by every caller
    /// asking at the same time.
    pub async fn resolve(&self, name: &str) -> io::Result<Arc<[IpAddr]>> {
        let now = Instant::now();
        let answer = {
            let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
            match names.get(name) {
                Some(entry) if now.duration_since(entry.asked) < ANSWER_TIME => {
                    entry.answer.clone()
                }
                _ => {
                    if names.len() >= MOST_NAMES {
                        names.retain(|_, entry| now.duration_since(entry.asked) < ANSWER_TIME);
                        if names.len() >= MOST_NAMES {
                            names.clear();
                        }
                    }
                    let answer = Arc::new(OnceCell::new());
                    names.insert(
                        name.to_owned(),
                        Entry {
                            answer: answer.clone(),
                            asked: now,
                        },
                    );
                    answer
                }
            }
        };
        let result = answer
            .get_or_init(|| async {
                self.lookups
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match tokio::time::timeout(self.timeout, tokio::net::lookup_host((name, 0))).await {
                    Err(_) => Err((io::ErrorKind::TimedOut, "name lookup timed out".to_owned())),
                    Ok(Err(error)) => Err((error.kind(), error.to_string())),
                    Ok(Ok(addresses)) => {
                        let mut ips: Vec<IpAddr> = Vec::new();
                        for address in addresses {
                            if !ips.contains(&address.ip()) {
                                ips.push(address.ip());
                            }
                        }
                        Ok(ips.into())
                    }
                }
            })
            .await
            .clone();
        if result.is_err() {
            // Not kept: the next connection asks again.
            let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
            if names
                .get(name)
                .is_some_and(|entry| Arc::ptr_eq(&entry.answer, &answer))
            {
                names.remove(name);
            }
        }
        result.map_err(|(kind, message)| io::Error::new(kind, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_lookup_answers_everyone_asking_at_once_and_is_kept() {
        let resolver = Arc::new(Resolver::new(Duration::from_secs(10)));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let resolver = resolver.clone();
            tasks.spawn(async move { resolver.resolve("localhost").await });
        }
        while let Some(result) = tasks.join_next().await {
            let addresses = result.expect("task").expect("localhost resolves");
            assert!(addresses.iter().all(|ip| ip.is_loopback()), "{addresses:?}");
        }
        resolver.resolve("localhost").await.expect("again");
        assert_eq!(resolver.lookups(), 1);
    }

    #[tokio::test]
    async fn failures_are_not_kept() {
        let resolver = Resolver::new(Duration::from_secs(10));
        // `.invalid` never resolves (RFC 6761).
        assert!(resolver.resolve("no-such-host.invalid").await.is_err());
        assert!(resolver.resolve("no-such-host.invalid").await.is_err());
        assert_eq!(resolver.lookups(), 2);
    }

    #[tokio::test]
    async fn answers_expire() {
        let resolver = Resolver::new(Duration::from_secs(10));
        resolver.resolve("localhost").await.expect("resolves");
        {
            let mut names = resolver.names.lock().expect("lock");
            let entry = names.get_mut("localhost").expect("kept");
            entry.asked = Instant::now()
                .checked_sub(ANSWER_TIME + Duration::from_secs(1))
                .expect("a time in the past");
        }
        resolver.resolve("localhost").await.expect("resolves again");
        assert_eq!(resolver.lookups(), 2);
    }
}
