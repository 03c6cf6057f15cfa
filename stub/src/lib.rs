//! The stub. (Being written.)
