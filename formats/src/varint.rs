//! LEB128 varints (integer-encoding's encoding) with a one-byte fast path on the decode side, where most
//! trace fields (small function ids, short time deltas) fit in one byte.

use integer_encoding::VarInt;

/// The longest encoding of a u64.
pub const MAX_VARINT_LEN: usize = 10;

/// Appends `v` as a varint.
#[inline]
pub fn put(buf: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        buf.push(v as u8);
        return;
    }
    let mut tmp = [0u8; MAX_VARINT_LEN];
    let n = v.encode_var(&mut tmp);
    buf.extend_from_slice(&tmp[..n]);
}

/// Decodes a varint at the start of `bytes`: the value and its length, or `None` if it is cut off or longer
/// than a u64.
#[inline(always)]
pub fn get(bytes: &[u8]) -> Option<(u64, usize)> {
    match bytes {
        [b0, ..] if *b0 < 0x80 => Some((*b0 as u64, 1)),
        // Two bytes cover deltas up to 16 µs and function ids up to 4095: most of what is left.
        [b0, b1, ..] if *b1 < 0x80 => Some(((*b0 & 0x7f) as u64 | (*b1 as u64) << 7, 2)),
        // Three bytes: deltas up to 2 ms, the rest of the common cases.
        [b0, b1, b2, ..] if *b2 < 0x80 => {
            Some(((*b0 & 0x7f) as u64 | ((*b1 & 0x7f) as u64) << 7 | (*b2 as u64) << 14, 3))
        }
        [] => None,
        _ => u64::decode_var(bytes),
    }
}

/// Appends a length-prefixed byte string.
#[inline]
pub fn put_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    put(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edges() {
        for v in [0u64, 1, 127, 128, 300, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put(&mut b, v);
            assert_eq!(get(&b), Some((v, b.len())), "{v}");
            assert_eq!(get(&b[..b.len() - 1]), None, "cut {v}");
        }
    }
}
