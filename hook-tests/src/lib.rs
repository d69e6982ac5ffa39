//! Shared helpers of the hook tests (see tests/).
