//! The original pyliveupdate's text log. (Being written: see the parser and rotated-log helpers.)

/// Whether `data` starts like a line of the original's log: `YYYY-MM-DD HH:MM:SS,mmm; `.
pub fn looks_like_legacy(data: &[u8]) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-dd dd:dd:dd,ddd;";
    data.len() >= SHAPE.len()
        && SHAPE.iter().zip(data).all(|(&s, &b)| if s == b'd' { b.is_ascii_digit() } else { s == b })
}
