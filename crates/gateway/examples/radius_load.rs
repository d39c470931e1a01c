//! Load for `bench/radius.sh`: RADIUS Accounting-Requests as a busy Wi-Fi controller sends them,
//! as fast as they are answered, each with its authenticator computed from the shared secret.
//!
//! ```text
//! radius_load --server 127.0.0.1:1813 --secret SECRET --users 10000 --seconds 10 [--window 64]
//!             [--new-users yes]
//! ```
//!
//! Users `user00000`… on addresses 10.(i/65536).(i/256).(i%256)+… start sessions, then send
//! interim updates, round and round; `--window` packets are kept in flight. Prints packets
//! answered per second and how many went unanswered within a second.

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

fn request(identifier: u8, user: &str, address: Ipv4Addr, status: u32, secret: &[u8]) -> Vec<u8> {
    let mut packet = vec![4, identifier, 0, 0];
    packet.extend_from_slice(&[0; 16]);
    packet.push(1);
    packet.push(u8::try_from(user.len() + 2).expect("short name"));
    packet.extend_from_slice(user.as_bytes());
    packet.extend_from_slice(&[40, 6]);
    packet.extend_from_slice(&status.to_be_bytes());
    packet.extend_from_slice(&[8, 6]);
    packet.extend_from_slice(&address.octets());
    let session = format!("s-{user}");
    packet.push(44);
    packet.push(u8::try_from(session.len() + 2).expect("short id"));
    packet.extend_from_slice(session.as_bytes());
    let length = u16::try_from(packet.len()).expect("short packet");
    packet[2..4].copy_from_slice(&length.to_be_bytes());
    let mut md5 = Md5::new();
    md5.update(&packet[..4]);
    md5.update([0u8; 16]);
    md5.update(&packet[20..]);
    md5.update(secret);
    let authenticator: [u8; 16] = md5.finalize().into();
    packet[4..20].copy_from_slice(&authenticator);
    packet
}

fn main() {
    let mut server = "127.0.0.1:1813".to_owned();
    let mut secret = String::new();
    let mut users = 10_000usize;
    let mut seconds = 10u64;
    let mut window = 64usize;
    let mut new_users = false;
    let mut arguments = std::env::args().skip(1);
    while let Some(flag) = arguments.next() {
        let value = arguments.next().unwrap_or_default();
        match flag.as_str() {
            "--server" => server = value,
            "--secret" => secret = value,
            "--users" => users = value.parse().expect("--users N"),
            "--seconds" => seconds = value.parse().expect("--seconds N"),
            "--window" => window = value.parse().expect("--window N"),
            "--new-users" => new_users = value == "yes",
            other => panic!("unknown flag {other}"),
        }
    }
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(&server).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .expect("timeout");
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut in_flight: HashMap<u8, Instant> = HashMap::new();
    let mut next = 0usize;
    let mut identifier = 0u8;
    let mut answered = 0u64;
    let mut lost = 0u64;
    let mut buffer = [0u8; 64];
    while Instant::now() < end {
        while in_flight.len() < window.min(255) {
            while in_flight.contains_key(&identifier) {
                identifier = identifier.wrapping_add(1);
            }
            let i = next % users;
            let address = Ipv4Addr::new(
                10,
                (i / 65536) as u8,
                (i / 256 % 256) as u8,
                (i % 256) as u8,
            );
            // The first round starts sessions; after that, interim updates. With `--new-users
            // yes` every packet starts a session for a user not seen before (each one looked up).
            let (status, user) = if new_users {
                (1, format!("new{next:07}"))
            } else if next < users {
                (1, format!("user{i:05}"))
            } else {
                (3, format!("user{i:05}"))
            };
            let packet = request(identifier, &user, address, status, secret.as_bytes());
            socket.send(&packet).expect("send");
            in_flight.insert(identifier, Instant::now());
            identifier = identifier.wrapping_add(1);
            next += 1;
        }
        match socket.recv(&mut buffer) {
            Ok(n) if n >= 20 && buffer[0] == 5 => {
                if in_flight.remove(&buffer[1]).is_some() {
                    answered += 1;
                }
            }
            Ok(_) => {}
            Err(_) => {
                // Nothing for a second: what is in flight is lost.
                lost += in_flight.len() as u64;
                in_flight.clear();
            }
        }
        let now = Instant::now();
        let before = in_flight.len();
        in_flight.retain(|_, sent| now.duration_since(*sent) < Duration::from_secs(1));
        lost += (before - in_flight.len()) as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "answered {answered} packets/s {:.0} unanswered {lost} users {users}",
        answered as f64 / elapsed
    );
}
