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
            Some(size) => Ok(Some(frame::parse(src, size)?)),
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
