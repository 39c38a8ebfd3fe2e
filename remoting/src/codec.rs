//! tokio-util codec over the frame layer.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::command::RemotingCommand;
use crate::frame::{self, FrameError, DEFAULT_MAX_FRAME_LENGTH};

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A frame larger than this that empties the read buffer gives its memory back (see
/// `decode`); smaller ones leave the buffer's capacity for the next frame.
const KEEP_BUFFER_UP_TO: usize = 256 * 1024;
/// The read buffer a connection starts again with after such a frame.
const FRESH_BUFFER: usize = 8 * 1024;

#[derive(Debug, Clone)]
pub struct RemotingCodec {
    max_frame_length: usize,
}

impl RemotingCodec {
    pub fn new(max_frame_length: usize) -> Self {
        RemotingCodec { max_frame_length }
    }
}

impl Default for RemotingCodec {
    fn default() -> Self {
        RemotingCodec::new(DEFAULT_MAX_FRAME_LENGTH)
    }
}

impl Decoder for RemotingCodec {
    type Item = RemotingCommand;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>, CodecError> {
        match frame::check(src, self.max_frame_length)? {
            Some(size) => {
                let command = frame::parse(src, size)?;
                // The frame shares the buffer's allocation; without this the connection would
                // take the whole allocation back once the frame is dropped and keep it for
                // good. 100 brokers each sending 1.6 MB registrations held over 160 MB that
                // way. (Netty likewise releases a fully read cumulation buffer.)
                if size > KEEP_BUFFER_UP_TO && src.is_empty() {
                    *src = BytesMut::with_capacity(FRESH_BUFFER);
                }
                Ok(Some(command))
            }
            None => {
                // Reserve for the rest of a partly received frame, but never more than
                // what has arrived so far (at least 8 KiB): a peer that announces a large
                // frame and then trickles bytes (or nothing) must not make us allocate it.
                // The buffer still grows by doubling, so a big frame costs a few copies.
                if src.len() >= 4 {
                    let length = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
                    let want = length as usize + 4;
                    if want > src.len() {
                        let ahead = (want - src.len()).min(src.len().max(8 * 1024));
                        src.reserve(ahead);
                    }
                }
                Ok(None)
            }
        }
    }
}

impl Encoder<RemotingCommand> for RemotingCodec {
    type Error = CodecError;

    fn encode(&mut self, cmd: RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        frame::encode(&cmd, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(body_len: usize) -> BytesMut {
        let cmd = RemotingCommand::request(105).with_body(vec![7u8; body_len]);
        let mut buf = BytesMut::new();
        frame::encode(&cmd, &mut buf);
        buf
    }

    #[test]
    fn a_large_frame_does_not_leave_its_memory_with_the_connection() {
        let mut codec = RemotingCodec::default();
        let mut src = encoded(2 * 1024 * 1024);
        let cmd = codec.decode(&mut src).unwrap().unwrap();
        assert_eq!(cmd.body.len(), 2 * 1024 * 1024);
        assert!(src.capacity() <= FRESH_BUFFER, "kept {} bytes", src.capacity());
        drop(cmd);
        src.reserve(1);
        assert!(src.capacity() <= 64 * 1024, "took back {} bytes", src.capacity());

        // A small frame keeps the buffer as it is.
        let mut src = encoded(1000);
        src.reserve(32 * 1024);
        let before = src.capacity();
        codec.decode(&mut src).unwrap().unwrap();
        assert_eq!(src.capacity() + encoded(1000).len(), before);
    }
}
