//! What both servers share: the accept loop, the read buffer and graceful shutdown.

pub mod accept;
pub(crate) mod read_buf;
pub(crate) mod shutdown;
