//! RocketMQ's remoting protocol: the frame codec, `RemotingCommand`, typed headers and
//! bodies, and the client and server transport built on tokio.
//!
//! The layers, bottom up:
//! - [`frame`]: finding frames in bytes and converting them to commands, with no I/O.
//! - [`codec`]: the same as a tokio-util `Decoder`/`Encoder`.
//! - [`connection`]: one TCP connection, requests in both directions, matched by opaque.
//! - [`server`] and [`client`]: accept loop plus dispatch table; per-address connections.

pub mod client;
pub mod code;
pub mod codec;
pub mod command;
pub mod connection;
pub mod fastjson;
pub mod frame;
pub mod header;
pub mod http;
pub mod inert;
mod json_header;
pub mod launch;
pub mod metrics;
pub mod properties;
pub mod protocol;
pub mod server;
mod text;
pub mod tls;

pub use client::{ClientConfig, RemotingClient};
pub use command::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
pub use connection::{BoxFuture, Connection, ConnectionLimits, RemotingError, RequestHandler};
pub use server::{
    serve, serve_listener, HandlerError, HandlerResult, Router, ServerConfig, ServerHandle, ServerSettings,
};
