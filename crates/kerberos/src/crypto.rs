//! The encryption types Active Directory and MIT Kerberos use for service tickets:
//! `aes256-cts-hmac-sha1-96` (18) and `aes128-cts-hmac-sha1-96` (17), RFC 3962 on RFC 3961's
//! simplified profile. Only decryption is needed: a ticket and its authenticator are read,
//! never made. Keys for each use are derived from the service key (DK with n-fold), the
//! ciphertext is AES in CBC mode with ciphertext stealing and a zero IV, and its integrity
//! is an HMAC-SHA1 truncated to 96 bits, compared in constant time.

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes256};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// `aes128-cts-hmac-sha1-96`.
pub const AES128_CTS_HMAC_SHA1_96: i32 = 17;
/// `aes256-cts-hmac-sha1-96`.
pub const AES256_CTS_HMAC_SHA1_96: i32 = 18;

const BLOCK: usize = 16;
const CONFOUNDER: usize = 16;
const MAC: usize = 12;

/// Why a ciphertext was not decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// An encryption type Ward does not read (DES, RC4, the SHA-2 AES types).
    #[error("encryption type {0} is not supported (use aes256-cts-hmac-sha1-96 or aes128)")]
    Unsupported(i32),
    /// A key of the wrong length for its type.
    #[error("a key of the wrong length")]
    KeyLength,
    /// Too short to hold a confounder and a checksum.
    #[error("a ciphertext too short")]
    TooShort,
    /// The checksum does not match: the wrong key, or a changed message.
    #[error("the checksum does not match (the wrong key, or a changed message)")]
    Integrity,
}

enum Cipher {
    Aes128(Aes128),
    Aes256(Aes256),
}

impl Cipher {
    fn new(key: &[u8]) -> Result<Cipher, CryptoError> {
        match key.len() {
            16 => Aes128::new_from_slice(key)
                .map(Cipher::Aes128)
                .map_err(|_| CryptoError::KeyLength),
            32 => Aes256::new_from_slice(key)
                .map(Cipher::Aes256)
                .map_err(|_| CryptoError::KeyLength),
            _ => Err(CryptoError::KeyLength),
        }
    }

    fn encrypt(&self, block: &mut [u8; BLOCK]) {
        let array: &mut Array<u8, _> = block.into();
        match self {
            Cipher::Aes128(aes) => aes.encrypt_block(array),
            Cipher::Aes256(aes) => aes.encrypt_block(array),
        }
    }

    fn decrypt(&self, block: &mut [u8; BLOCK]) {
        let array: &mut Array<u8, _> = block.into();
        match self {
            Cipher::Aes128(aes) => aes.decrypt_block(array),
            Cipher::Aes256(aes) => aes.decrypt_block(array),
        }
    }
}

/// RFC 3961's n-fold of `input` to `bytes` bytes: the input repeated, each copy rotated 13
/// bits further right, added together with end-around carry.
fn n_fold(input: &[u8], bytes: usize) -> Vec<u8> {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let in_bits = input.len() * 8;
    let lcm = bytes / gcd(bytes, input.len()) * input.len();
    let mut sum = vec![0u32; bytes];
    // Byte i of the concatenation of rotated copies, read bit by bit.
    for i in 0..lcm {
        let copy = i / input.len();
        let rotation = (13 * copy) % in_bits;
        let mut byte = 0u8;
        for bit in 0..8 {
            // Bit (i % len)*8 + bit of the copy rotated right by `rotation`.
            let position = ((i % input.len()) * 8 + bit + in_bits - rotation) % in_bits;
            let value = (input[position / 8] >> (7 - position % 8)) & 1;
            byte |= value << (7 - bit);
        }
        sum[i % bytes] += u32::from(byte);
    }
    // Add up with end-around carry (ones'-complement addition), from the last byte.
    loop {
        let mut carry = 0u32;
        for value in sum.iter_mut().rev() {
            let total = *value + carry;
            *value = total & 0xff;
            carry = total >> 8;
        }
        match sum.last_mut() {
            Some(last) if carry != 0 => *last += carry,
            _ => break,
        }
    }
    sum.into_iter().map(|value| value as u8).collect()
}

/// DK(key, constant): the key for one use, derived as RFC 3961 section 5.1 says (for AES,
/// random-to-key is the identity).
fn derive(key: &[u8], constant: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Cipher::new(key)?;
    let mut block = [0u8; BLOCK];
    block.copy_from_slice(&n_fold(constant, BLOCK));
    let mut derived = Vec::with_capacity(key.len());
    while derived.len() < key.len() {
        cipher.encrypt(&mut block);
        derived.extend_from_slice(&block);
    }
    derived.truncate(key.len());
    Ok(derived)
}

/// AES-CBC with ciphertext stealing (the last two blocks swapped, as RFC 3962 writes them),
/// zero IV, decrypted.
fn cts_decrypt(cipher: &Cipher, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    if data.len() <= BLOCK {
        let mut block = [0u8; BLOCK];
        block[..data.len()].copy_from_slice(data);
        cipher.decrypt(&mut block);
        out.extend_from_slice(&block[..data.len()]);
        return out;
    }
    let blocks = data.len().div_ceil(BLOCK);
    let tail = data.len() - (blocks - 1) * BLOCK;
    let mut previous = [0u8; BLOCK];
    for chunk in data[..(blocks - 2) * BLOCK].chunks_exact(BLOCK) {
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(chunk);
        let cipher_block = block;
        cipher.decrypt(&mut block);
        for (byte, prior) in block.iter_mut().zip(previous) {
            *byte ^= prior;
        }
        out.extend_from_slice(&block);
        previous = cipher_block;
    }
    // The full block sent second to last is the last one encrypted; the short one after it
    // is the start of the one before.
    let last_full = &data[(blocks - 2) * BLOCK..(blocks - 1) * BLOCK];
    let short = &data[(blocks - 1) * BLOCK..];
    let mut decrypted = [0u8; BLOCK];
    decrypted.copy_from_slice(last_full);
    cipher.decrypt(&mut decrypted);
    let mut second_last = [0u8; BLOCK];
    second_last[..tail].copy_from_slice(short);
    second_last[tail..].copy_from_slice(&decrypted[tail..]);
    let last_plain: Vec<u8> = decrypted
        .iter()
        .zip(second_last)
        .take(tail)
        .map(|(a, b)| a ^ b)
        .collect();
    let mut block = second_last;
    cipher.decrypt(&mut block);
    for (byte, prior) in block.iter_mut().zip(previous) {
        *byte ^= prior;
    }
    out.extend_from_slice(&block);
    out.extend_from_slice(&last_plain);
    out
}

/// Decrypts a Kerberos `EncryptedData`'s cipher with the base `key` of `etype` for key usage
/// `usage`, checking its HMAC; the plaintext without its confounder.
pub fn decrypt(etype: i32, key: &[u8], usage: u32, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let expected_key = match etype {
        AES128_CTS_HMAC_SHA1_96 => 16,
        AES256_CTS_HMAC_SHA1_96 => 32,
        other => return Err(CryptoError::Unsupported(other)),
    };
    if key.len() != expected_key {
        return Err(CryptoError::KeyLength);
    }
    if data.len() < CONFOUNDER + MAC {
        return Err(CryptoError::TooShort);
    }
    let usage = usage.to_be_bytes();
    let constant = |last: u8| [usage[0], usage[1], usage[2], usage[3], last];
    let encryption_key = derive(key, &constant(0xaa))?;
    let integrity_key = derive(key, &constant(0x55))?;
    let (ciphertext, mac) = data.split_at(data.len() - MAC);
    let plain = cts_decrypt(&Cipher::new(&encryption_key)?, ciphertext);
    let mut check = <Hmac<Sha1> as hmac::KeyInit>::new_from_slice(&integrity_key)
        .map_err(|_| CryptoError::KeyLength)?;
    check.update(&plain);
    check
        .verify_truncated_left(mac)
        .map_err(|_| CryptoError::Integrity)?;
    Ok(plain[CONFOUNDER..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn n_fold_matches_rfc_3961() {
        // RFC 3961 appendix A.1.
        assert_eq!(n_fold(b"012345", 8), hex("be072631276b1955"));
        assert_eq!(n_fold(b"password", 7), hex("78a07b6caf85fa"));
        assert_eq!(
            n_fold(b"Rough Consensus, and Running Code", 8),
            hex("bb6ed30870b7f0e0")
        );
        assert_eq!(n_fold(b"kerberos", 8), hex("6b65726265726f73"));
        assert_eq!(
            n_fold(b"kerberos", 16),
            hex("6b65726265726f737b9b5b2b93132b93")
        );
        assert_eq!(
            n_fold(b"Q", 21),
            hex("518a54a215a8452a518a54a215a8452a518a54a215")
        );
    }

    #[test]
    fn ciphertext_stealing_matches_rfc_3962() {
        // RFC 3962 appendix B: AES 128 key "chicken teriyaki", IV zero.
        let cipher = Cipher::new(&hex("636869636b656e207465726979616b69")).expect("key");
        let plain = hex("4920776f756c64206c696b652074686520 \
             47656e6572616c20476175277320436869 \
             636b656e2c20706c656173652c20616e64 \
             20776f6e746f6e20736f75702e");
        let cases = [
            (17, "c6353568f2bf8cb4d8a580362da7ff7f97"),
            (
                31,
                "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5",
            ),
            (
                32,
                "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584",
            ),
            (
                47,
                "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5",
            ),
            (
                64,
                "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8",
            ),
        ];
        for (length, ciphertext) in cases {
            assert_eq!(
                cts_decrypt(&cipher, &hex(ciphertext)),
                plain[..length],
                "{length} bytes"
            );
        }
    }

    #[test]
    fn a_wrong_key_or_a_changed_byte_fails_the_checksum() {
        let key = [7u8; 32];
        let data = [1u8; 64];
        assert_eq!(
            decrypt(AES256_CTS_HMAC_SHA1_96, &key, 2, &data),
            Err(CryptoError::Integrity)
        );
        assert_eq!(
            decrypt(23, &key, 2, &data),
            Err(CryptoError::Unsupported(23)),
            "RC4 is refused"
        );
        assert_eq!(
            decrypt(AES256_CTS_HMAC_SHA1_96, &key[..16], 2, &data),
            Err(CryptoError::KeyLength)
        );
        assert_eq!(
            decrypt(AES128_CTS_HMAC_SHA1_96, &key[..16], 2, &data[..20]),
            Err(CryptoError::TooShort)
        );
    }
}
