//! The stable hash of index keys. It is part of the index file format: changing it means
//! changing `FORMAT_VERSION`.
//!
//! Keys are hashed from their last byte to their first, so one pass over a host yields the hash
//! of every parent domain on the way (`com`, `example.com`, `www.example.com`) without hashing
//! any byte twice.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The hash of a whole key.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let mut state = FNV_OFFSET;
    for &byte in key.iter().rev() {
        state = (state ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
    }
    finish(state)
}

/// The hashes of every label-boundary suffix of `key`, most specific (the whole key) first, with
/// the byte offset where each suffix starts. Returns how many were written, or `None` if `out`
/// has too little room (`key.len() + 1` entries is always enough).
pub(crate) fn suffix_hashes(key: &[u8], out: &mut [(u64, usize)]) -> Option<usize> {
    // Collected general-to-specific, then reversed in place.
    let mut count = 0;
    let mut state = FNV_OFFSET;
    for index in (0..key.len()).rev() {
        let byte = key[index];
        if byte == b'.' {
            *out.get_mut(count)? = (finish(state), index + 1);
            count += 1;
        }
        state = (state ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
    }
    *out.get_mut(count)? = (finish(state), 0);
    count += 1;
    out[..count].reverse();
    Some(count)
}

/// A strong final mix (the SplitMix64 finaliser): FNV's low bits are weak on their own.
fn finish(mut state: u64) -> u64 {
    state ^= state >> 33;
    state = state.wrapping_mul(0xff51_afd7_ed55_8ccd);
    state ^= state >> 33;
    state = state.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    state ^ (state >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_hashes_equal_whole_key_hashes() {
        let key = b"a.bb.example.com";
        let mut out = [(0, 0); 4];
        let count = suffix_hashes(key, &mut out).expect("four suffixes fit");
        let starts: Vec<usize> = out[..count].iter().map(|&(_, start)| start).collect();
        assert_eq!(starts, [0, 2, 5, 13]);
        for &(hash, start) in &out[..count] {
            assert_eq!(hash, key_hash(&key[start..]));
        }
    }

    #[test]
    fn suffix_hashes_say_when_they_do_not_fit() {
        let mut out = [(0, 0); 3];
        assert_eq!(suffix_hashes(b"a.bb.example.com", &mut out), None);
        assert_eq!(suffix_hashes(b"example.com", &mut out), Some(2));
    }

    #[test]
    fn hash_is_stable() {
        // The index file format depends on these exact values.
        assert_eq!(key_hash(b"example.com"), 0x9f8d_0bdd_8bb0_915e);
    }
}
