//! pylu's analyzer. (Being written.)
