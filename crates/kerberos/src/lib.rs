//! Transparent single sign-on at the proxy: `Proxy-Authorization: Negotiate` (SPNEGO with
//! Kerberos, RFC 4559 and RFC 4120), as Windows and Mac computers on the school's domain send
//! it for their logged-in user, without anyone typing a password. squid and e2guardian hand
//! this to a helper linked to the system's GSS-API; Ward reads it itself, in safe Rust:
//!
//! 1. the token is unwrapped (the SPNEGO `NegTokenInit`'s Kerberos mechanism token, or a bare
//!    Kerberos GSS token) down to the `AP-REQ`;
//! 2. the ticket is decrypted with the proxy's service key from its keytab (the one file the
//!    school's domain administrator exports for `HTTP/proxy-name`), which proves the KDC issued
//!    it for this service;
//! 3. the authenticator is decrypted with the session key from the ticket, which proves the
//!    client holds that key; its client must be the ticket's, its time within five minutes of
//!    now, and it must not have been seen before (a replay cache of five minutes);
//! 4. the ticket must be current and from the service's own realm.
//!
//! The answer is the user's principal (`lwright10@PARK-END.LOCAL`). Encryption types: the AES
//! ones with HMAC-SHA1 (what Active Directory and MIT Kerberos issue by default); RC4 and DES
//! are refused. Ward does not send a mutual-authentication reply: HTTP clients do not ask a
//! proxy for one.

pub mod crypto;
pub mod der;

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};

use crate::der::{DerError, application, context, expect, fields, integer, octets, required};

/// How far a client's clock may be from Ward's (Kerberos's usual five minutes).
pub const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);
/// Authenticators remembered against replay; beyond it the oldest half is dropped (they are
/// older than the skew in any normal load; a flood of unique ones cannot grow memory).
const MOST_REMEMBERED: usize = 100_000;
/// The longest Negotiate token read (Active Directory tickets with many groups run to ~12 KB).
pub const MOST_TOKEN: usize = 64 * 1024;

const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// The OID older Windows versions put for Kerberos in SPNEGO.
const MS_KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// Key usage of a ticket's encrypted part (RFC 4120 section 7.5.1).
const USAGE_TICKET: u32 = 2;
/// Key usage of an AP-REQ's authenticator.
const USAGE_AUTHENTICATOR: u32 = 11;

/// Why a Negotiate token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KerberosError {
    /// Not base64, too long, or not the DER it should be.
    #[error("{0}")]
    Malformed(String),
    /// SPNEGO without a Kerberos token (NTLM only).
    #[error("the client offered no Kerberos ticket (NTLM is not supported)")]
    NotKerberos,
    /// A ticket for a service whose key the keytab does not have.
    #[error("the ticket is for {0}, whose key is not in the keytab")]
    UnknownService(String),
    /// Decryption or its checksum failed.
    #[error("{0}")]
    Crypto(#[from] crypto::CryptoError),
    /// The ticket has expired or is not yet valid.
    #[error("the ticket is not valid now")]
    TicketTime,
    /// The authenticator's time is too far from now.
    #[error("the client's clock is more than five minutes out")]
    Skew,
    /// The authenticator names another client than the ticket.
    #[error("the authenticator does not match the ticket")]
    Mismatch,
    /// The authenticator was seen before.
    #[error("a replayed authenticator")]
    Replay,
    /// A user of another realm.
    #[error("a user of another realm ({0})")]
    ForeignRealm(String),
}

impl From<DerError> for KerberosError {
    fn from(error: DerError) -> KerberosError {
        KerberosError::Malformed(error.to_string())
    }
}

/// A keytab that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the keytab cannot be read: {0}")]
pub struct KeytabError(&'static str);

/// One key of a keytab.
#[derive(Clone)]
pub struct KeytabEntry {
    /// The service principal's name components (`HTTP`, `proxy.park-end.local`).
    pub components: Vec<String>,
    /// Its realm.
    pub realm: String,
    /// The key version.
    pub kvno: u32,
    /// The encryption type.
    pub etype: i32,
    key: Vec<u8>,
}

impl KeytabEntry {
    /// `HTTP/proxy.park-end.local@PARK-END.LOCAL`.
    pub fn principal(&self) -> String {
        format!("{}@{}", self.components.join("/"), self.realm)
    }
}

impl std::fmt::Debug for KeytabEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeytabEntry")
            .field("principal", &self.principal())
            .field("kvno", &self.kvno)
            .field("etype", &self.etype)
            .field("key", &"(secret)")
            .finish()
    }
}

/// Reads a keytab file (MIT's format, version 0x502, as `ktpass` and `kadmin ktadd` write).
pub fn read_keytab(bytes: &[u8]) -> Result<Vec<KeytabEntry>, KeytabError> {
    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], KeytabError> {
            if self.0.len() < n {
                return Err(KeytabError("it ends in the middle of an entry"));
            }
            let (taken, rest) = self.0.split_at(n);
            self.0 = rest;
            Ok(taken)
        }
        fn u16(&mut self) -> Result<u16, KeytabError> {
            let b = self.take(2)?;
            Ok(u16::from_be_bytes([b[0], b[1]]))
        }
        fn u32(&mut self) -> Result<u32, KeytabError> {
            let b = self.take(4)?;
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        fn text(&mut self) -> Result<String, KeytabError> {
            let length = usize::from(self.u16()?);
            String::from_utf8(self.take(length)?.to_vec())
                .map_err(|_| KeytabError("a name that is not text"))
        }
    }
    let mut file = Reader(bytes);
    if file.u16()? != 0x0502 {
        return Err(KeytabError("not a version 0x502 keytab"));
    }
    let mut entries = Vec::new();
    while !file.0.is_empty() {
        let size = file.u32()? as i32;
        if size < 0 {
            // A hole left by a deleted entry.
            file.take(size.unsigned_abs() as usize)?;
            continue;
        }
        let mut entry = Reader(file.take(size as usize)?);
        let count = entry.u16()?;
        let realm = entry.text()?;
        let components = (0..count)
            .map(|_| entry.text())
            .collect::<Result<Vec<_>, _>>()?;
        let _name_type = entry.u32()?;
        let _timestamp = entry.u32()?;
        let vno8 = u32::from(entry.take(1)?[0]);
        let etype = i32::from(entry.u16()?);
        let key_length = usize::from(entry.u16()?);
        let key = entry.take(key_length)?.to_vec();
        // A 32-bit version follows when the 8-bit one overflowed.
        let kvno = if entry.0.len() >= 4 {
            match entry.u32()? {
                0 => vno8,
                vno => vno,
            }
        } else {
            vno8
        };
        entries.push(KeytabEntry {
            components,
            realm,
            kvno,
            etype,
            key,
        });
    }
    if entries.is_empty() {
        return Err(KeytabError("it holds no key"));
    }
    Ok(entries)
}

/// Who a Negotiate token proved the client to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name (`lwright10`; several components joined with `/`).
    pub name: String,
    /// The realm (`PARK-END.LOCAL`).
    pub realm: String,
}

/// Accepts Negotiate tokens for the services in a keytab.
pub struct Acceptor {
    keys: Vec<KeytabEntry>,
    seen: Mutex<HashMap<(String, i64, i64), Timestamp>>,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// An `EncryptedData`: its type, key version and cipher.
struct Encrypted<'a> {
    etype: i32,
    kvno: Option<i64>,
    cipher: &'a [u8],
}

fn encrypted(input: &[u8]) -> Result<Encrypted<'_>, KerberosError> {
    let (sequence, _) = expect(input, der::SEQUENCE, "encrypted data was expected")?;
    let found = fields(sequence)?;
    Ok(Encrypted {
        etype: i32::try_from(integer(required(&found, 0, "no encryption type")?)?)
            .map_err(|_| KerberosError::Malformed("an encryption type out of range".into()))?,
        kvno: found[1].map(integer).transpose()?,
        cipher: octets(required(&found, 2, "no cipher")?)?,
    })
}

/// A `PrincipalName`'s components.
fn principal_name(input: &[u8]) -> Result<Vec<String>, KerberosError> {
    let (sequence, _) = expect(input, der::SEQUENCE, "a name was expected")?;
    let found = fields(sequence)?;
    let (mut strings, _) = expect(
        required(&found, 1, "a name without parts")?,
        der::SEQUENCE,
        "name parts were expected",
    )?;
    let mut parts = Vec::new();
    while !strings.is_empty() {
        let (_, _, rest) = der::element(strings)?;
        parts.push(der::string(strings)?);
        strings = rest;
    }
    if parts.is_empty() || parts.len() > 8 {
        return Err(KerberosError::Malformed(
            "a name with no or too many parts".into(),
        ));
    }
    Ok(parts)
}

/// The AP-REQ inside a Negotiate token (SPNEGO or bare Kerberos).
fn ap_req(token: &[u8]) -> Result<&[u8], KerberosError> {
    let (inner, _) = expect(token, application(0), "not a GSS-API token")?;
    let (oid, rest) = expect(inner, der::OID, "a GSS-API token without its mechanism")?;
    if oid == SPNEGO_OID {
        let (init, _) = expect(rest, context(0), "SPNEGO without NegTokenInit")?;
        let (sequence, _) = expect(init, der::SEQUENCE, "a malformed NegTokenInit")?;
        let found = fields(sequence)?;
        let mech_token = octets(found[2].ok_or(KerberosError::NotKerberos)?)?;
        return ap_req(mech_token);
    }
    if oid != KRB5_OID && oid != MS_KRB5_OID {
        return Err(KerberosError::NotKerberos);
    }
    // TOK_ID 01 00: an AP-REQ.
    match rest {
        [0x01, 0x00, message @ ..] => Ok(message),
        _ => Err(KerberosError::Malformed(
            "a Kerberos token that is not an AP-REQ".into(),
        )),
    }
}

impl Acceptor {
    /// An acceptor for every key in `keys` (the keytab's entries).
    pub fn new(keys: Vec<KeytabEntry>) -> Acceptor {
        Acceptor {
            keys,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The service principals it accepts tickets for.
    pub fn services(&self) -> Vec<String> {
        let mut services: Vec<String> = self.keys.iter().map(KeytabEntry::principal).collect();
        services.sort();
        services.dedup();
        services
    }

    /// Checks a `Negotiate` header's token (base64) at `now`.
    pub fn accept(&self, token: &str, now: Timestamp) -> Result<Principal, KerberosError> {
        let token = token.trim();
        if token.len() > MOST_TOKEN * 4 / 3 + 4 {
            return Err(KerberosError::Malformed("a token too long".into()));
        }
        let token = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|_| KerberosError::Malformed("a token that is not base64".into()))?;
        let message = ap_req(&token)?;
        let (ap, _) = expect(message, application(14), "not an AP-REQ")?;
        let (sequence, _) = expect(ap, der::SEQUENCE, "a malformed AP-REQ")?;
        let request = fields(sequence)?;
        if integer(required(&request, 0, "no version")?)? != 5
            || integer(required(&request, 1, "no message type")?)? != 14
        {
            return Err(KerberosError::Malformed("not a Kerberos 5 AP-REQ".into()));
        }

        // The ticket, for this service, decrypted with its key.
        let (ticket, _) = expect(
            required(&request, 3, "no ticket")?,
            application(1),
            "a malformed ticket",
        )?;
        let (ticket, _) = expect(ticket, der::SEQUENCE, "a malformed ticket")?;
        let ticket = fields(ticket)?;
        let service_realm = der::string(required(&ticket, 1, "a ticket without its realm")?)?;
        let service = principal_name(required(&ticket, 2, "a ticket without its service")?)?;
        let sealed = encrypted(required(&ticket, 3, "a ticket without its secret part")?)?;
        let keys: Vec<&KeytabEntry> = self
            .keys
            .iter()
            .filter(|key| {
                key.components == service
                    && key.realm == service_realm
                    && key.etype == sealed.etype
                    && sealed.kvno.is_none_or(|kvno| i64::from(key.kvno) == kvno)
            })
            .collect();
        if keys.is_empty() {
            return Err(KerberosError::UnknownService(format!(
                "{}@{service_realm} (encryption type {}, key version {})",
                service.join("/"),
                sealed.etype,
                sealed.kvno.map_or("none".into(), |kvno| kvno.to_string())
            )));
        }
        let mut opened = Err(KerberosError::Crypto(crypto::CryptoError::Integrity));
        for key in keys {
            opened = crypto::decrypt(sealed.etype, &key.key, USAGE_TICKET, sealed.cipher)
                .map_err(KerberosError::from);
            if opened.is_ok() {
                break;
            }
        }
        let ticket_part = opened?;
        let (part, _) = expect(&ticket_part, application(3), "a malformed ticket part")?;
        let (part, _) = expect(part, der::SEQUENCE, "a malformed ticket part")?;
        let part = fields(part)?;
        let (session_key, _) = expect(
            required(&part, 1, "a ticket without a session key")?,
            der::SEQUENCE,
            "a malformed session key",
        )?;
        let session_key = fields(session_key)?;
        let session_type = i32::try_from(integer(required(&session_key, 0, "no key type")?)?)
            .map_err(|_| KerberosError::Malformed("a key type out of range".into()))?;
        let session_key = octets(required(&session_key, 1, "no key")?)?;
        let client_realm = der::string(required(&part, 2, "a ticket without the client's realm")?)?;
        let client = principal_name(required(&part, 3, "a ticket without its client")?)?;
        let start = match part[6] {
            Some(start) => der::time(start)?,
            None => der::time(required(&part, 5, "a ticket without its time")?)?,
        };
        let end = der::time(required(&part, 7, "a ticket without its end")?)?;
        if start > now + CLOCK_SKEW || end < now - CLOCK_SKEW {
            return Err(KerberosError::TicketTime);
        }

        // The authenticator, sealed with the session key: the client holds it.
        let sealed = encrypted(required(&request, 4, "no authenticator")?)?;
        let authenticator = crypto::decrypt(
            if sealed.etype == session_type {
                session_type
            } else {
                return Err(KerberosError::Mismatch);
            },
            session_key,
            USAGE_AUTHENTICATOR,
            sealed.cipher,
        )?;
        let (authenticator, _) =
            expect(&authenticator, application(2), "a malformed authenticator")?;
        let (authenticator, _) = expect(authenticator, der::SEQUENCE, "a malformed authenticator")?;
        let authenticator = fields(authenticator)?;
        let said_realm = der::string(required(
            &authenticator,
            1,
            "an authenticator without a realm",
        )?)?;
        let said_client = principal_name(required(
            &authenticator,
            2,
            "an authenticator without a client",
        )?)?;
        if said_realm != client_realm || said_client != client {
            return Err(KerberosError::Mismatch);
        }
        let microseconds = integer(required(
            &authenticator,
            4,
            "an authenticator without its time",
        )?)?;
        let at = der::time(required(
            &authenticator,
            5,
            "an authenticator without its time",
        )?)?;
        if (now - at).abs() > CLOCK_SKEW {
            return Err(KerberosError::Skew);
        }
        if client_realm != service_realm {
            return Err(KerberosError::ForeignRealm(client_realm));
        }
        let name = client.join("/");
        self.remember(&name, at, microseconds, now)?;
        Ok(Principal {
            name,
            realm: client_realm,
        })
    }

    /// Refuses an authenticator seen within the skew; remembers this one.
    fn remember(
        &self,
        name: &str,
        at: Timestamp,
        microseconds: i64,
        now: Timestamp,
    ) -> Result<(), KerberosError> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MOST_REMEMBERED {
            seen.retain(|_, when| now.duration_since(*when) < CLOCK_SKEW * 2);
            if seen.len() >= MOST_REMEMBERED {
                let mut times: Vec<Timestamp> = seen.values().copied().collect();
                times.sort_unstable();
                let cut = times[times.len() / 2];
                seen.retain(|_, when| *when > cut);
            }
        }
        let key = (name.to_owned(), at.as_second(), microseconds);
        if seen.contains_key(&key) {
            return Err(KerberosError::Replay);
        }
        seen.insert(key, now);
        Ok(())
    }
}
