//! What both servers share: the accept loop and the read buffer.

pub(crate) mod accept;
pub(crate) mod read_buf;
