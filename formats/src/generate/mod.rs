//! Deterministic generator of realistic traces. (Being written.)
