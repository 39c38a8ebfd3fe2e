//! Test support shared by the compatibility tests: golden frames recorded from the Java
//! RocketMQ 4.9.8 servers, raw pcap streams, our binaries started as processes on free
//! ports, and the stock-client driver scripts under `clients/`.

pub mod broker_ops;
pub mod clients;
pub mod console;
pub mod golden;
pub mod pcap;
pub mod process;
