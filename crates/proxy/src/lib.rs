//! Ward's HTTP/HTTPS filtering proxy (DESIGN.md F2, F6–F11): where full URLs, users and search
//! terms become visible.
//!
//! - explicit forward proxy for HTTP/1.1 (keep-alive, chunked and streamed bodies, WebSocket
//!   upgrades) and CONNECT tunnels; transparent HTTP (by `Host`) and transparent HTTPS (by the
//!   TLS server name, spliced unchanged) — [`server`], [`http`], [`tls`];
//! - where each request goes, in the canonical form the policy decides on — [`target`], and the
//!   TLS ClientHello's server name — [`hello`];
//! - the block page with its unblock-request and report-a-concern forms, the PAC/WPAD file —
//!   [`page`]; what the forms do is the wiring layer's ([`actions`]);
//! - identity (device register, proxy log-ins), events and counters — [`proxy`];
//! - risk detection on searches, addresses and streamed pages — [`detect`];
//! - where the proxy may connect (never Ward itself, loopback or the machine; private networks
//!   per group), decided on the resolved address — [`reach`].
//!
//! The policy and device register are the `ward_gateway::LiveState` shared with the DNS
//! filter: the same decision for the same person whichever way the request comes. No policy
//! logic lives here; the verdict comes from [`ward_policy::decide`].

pub mod actions;
pub mod agreement;
pub mod ca;
pub mod detect;
pub mod hello;
pub mod http;
pub mod inspect;
pub mod io;
pub mod page;
pub mod proxy;
pub mod reach;
pub mod resolve;
pub mod server;
pub mod sign_on;
pub mod target;
pub mod tls;

pub use actions::{BlockPageActions, ConcernReport, NotRecorded, Outcome};
pub use agreement::PortalAgreement;
pub use detect::{Detection, Exclusions};
pub use proxy::{
    AuthUser, Authenticator, PasswordAdvice, PasswordRefusal, Proxy, ProxySettings, Stats,
};
pub use reach::{InternalServer, Reach, Refusal};
pub use server::{ListenerKind, Listeners, serve};
pub use sign_on::{SignOn, SignOnRefusal, SignOnStart};
