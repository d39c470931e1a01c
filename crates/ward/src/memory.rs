//! Giving memory Ward no longer uses back to the system.
//!
//! Building the filter's index, the phrase automaton and the classifier at start (and again on
//! a reload) needs tens of megabytes of scratch space, and a burst of traffic fills the event
//! queue for a moment. glibc's allocator keeps freed memory for reuse instead of returning it,
//! so a gateway that has started and once been busy would keep its high-water mark for good
//! (80 MB instead of 45 on the benchmark's index). [`give_back`] asks the allocator to return
//! its free pages; the gateway calls it once it has started, after every reload, and every
//! [`PERIOD`] while it runs.

use std::time::Duration;

/// How often freed memory is given back while Ward runs.
pub const PERIOD: Duration = Duration::from_secs(30);

/// Returns the allocator's free pages to the system (glibc's `malloc_trim`); nothing elsewhere.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn give_back() {
    // SAFETY: `malloc_trim` takes no pointers and only walks the allocator's own free lists
    // under its own locks; glibc documents it as safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Returns the allocator's free pages to the system (glibc's `malloc_trim`); nothing elsewhere.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back() {}

/// Gives memory back every [`PERIOD`], off the runtime's worker threads.
pub async fn give_back_every_period() {
    let mut ticks = tokio::time::interval(PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // A failed blocking task (the runtime shutting down) has nothing to give back.
        let _ = tokio::task::spawn_blocking(give_back).await;
    }
}
