//! Ward's DNS filter (DESIGN.md F6–F8, F10, F11): the first line of enforcement, for every
//! device on the network with nothing installed on it.
//!
//! - [`wire`]: queries and answers at the byte level (the per-query path allocates only the
//!   answer);
//! - [`filter`]: who is asking (device register), what the policy decides for the name and for
//!   every name of a CNAME chain, blocked answers, safe search, bypass names, events;
//! - [`cache`]: upstream answers for as long as their TTLs say, negative ones per their SOA;
//! - [`upstream`]: forwarding with timeouts, retries, failover and TCP on truncation;
//! - [`reply`]: removing ECH from HTTPS/SVCB answers and building safe-search answers;
//! - [`rewrite`]: the bypass names and the safe-search hosts;
//! - [`server`]: UDP and TCP sockets.
//!
//! The policy and device register are one immutable `ward_gateway::FilterState`, shared with
//! the proxy and swapped whole by `ward_gateway::LiveState::replace`: a reload never drops a
//! query.

pub mod cache;
pub mod filter;
pub mod limit;
pub mod reply;
pub mod rewrite;
pub mod server;
pub mod upstream;
pub mod wire;

pub use filter::{DnsFilter, FilterSettings, Pending, Stats, Step};
pub use server::{Listeners, serve};
pub use upstream::{UpstreamError, Upstreams};
