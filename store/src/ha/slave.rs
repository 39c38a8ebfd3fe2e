//! The slave's end of replication (Java's HAClient): connects to the master's HA port,
//! reports its CommitLog max offset, and appends what the master sends at the same
//! offsets. The master's address comes from `haMasterAddress` or, when that is not set,
//! from the name server's answer to REGISTER_BROKER (`MasterAddress::set`).

use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn};

use super::{Replication, TRANSFER_HEADER_SIZE};

/// Largest transfer a slave accepts in one frame (Java's read buffer is 4 MiB).
const MAX_TRANSFER: usize = 4 * 1024 * 1024;

/// Where the master's HA port is; changes take effect on the next connect.
pub struct MasterAddress {
    tx: tokio::sync::watch::Sender<Option<String>>,
}

impl Default for MasterAddress {
    fn default() -> Self {
        MasterAddress {
            tx: tokio::sync::watch::channel(None).0,
        }
    }
}

impl MasterAddress {
    pub fn set(&self, addr: &str) {
        let addr = addr.trim();
        if addr.is_empty() {
            return;
        }
        self.tx.send_if_modified(|current| {
            if current.as_deref() == Some(addr) {
                return false;
            }
            info!(old = ?current, new = addr, "HA: master address updated");
            *current = Some(addr.to_string());
            true
        });
    }
    pub fn get(&self) -> Option<String> {
        self.tx.borrow().clone()
    }
}

/// Follows the master for as long as the future runs, reconnecting as Java's HAClient does.
pub async fn run(replication: Replication, master: std::sync::Arc<MasterAddress>) {
    let mut changes = master.tx.subscribe();
    loop {
        if replication.stopped() {
            return;
        }
        let Some(addr) = master.get() else {
            let _ = tokio::time::timeout(Duration::from_secs(5), changes.changed()).await;
            continue;
        };
        let retry_after = match tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(&addr)).await {
            Ok(Ok(stream)) => {
                info!(master = %addr, "HA: connected to master");
                let outcome = follow(&replication, stream, &mut changes, &addr).await;
                match outcome {
                    Ok(()) => info!(master = %addr, "HA: link to master closed"),
                    Err(e) => warn!(master = %addr, "HA: link to master failed: {e}"),
                }
                replication.reset_partial();
                Duration::from_secs(1)
            }
            Ok(Err(e)) => {
                warn!(master = %addr, "HA: cannot connect to master: {e}");
                Duration::from_secs(5)
            }
            Err(_) => {
                warn!(master = %addr, "HA: connecting to master timed out");
                Duration::from_secs(5)
            }
        };
        let _ = tokio::time::timeout(retry_after, changes.changed()).await;
    }
}

async fn report(wr: &mut tokio::net::tcp::OwnedWriteHalf, offset: i64) -> std::io::Result<()> {
    wr.write_all(&offset.to_be_bytes()).await
}

/// One link: report, then take transfers until the link fails, the master goes quiet for
/// `haHousekeepingInterval`, or the master address changes.
async fn follow(
    replication: &Replication,
    stream: TcpStream,
    changes: &mut tokio::sync::watch::Receiver<Option<String>>,
    addr: &str,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let heartbeat = replication.heartbeat_interval();
    let housekeeping = replication.housekeeping_interval();
    // Java's first report waits for the heartbeat interval; reporting at once only
    // starts the transfer sooner.
    let mut reported = replication.max_offset();
    report(&mut wr, reported).await?;
    let mut last_report = Instant::now();
    let mut last_read = Instant::now();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let until_report = heartbeat.saturating_sub(last_report.elapsed());
        tokio::select! {
            n = rd.read_buf(&mut buf) => {
                if n? == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "master closed the link"));
                }
                last_read = Instant::now();
                take_transfers(replication, &mut buf)?;
                let now = replication.max_offset();
                if now > reported {
                    reported = now;
                    report(&mut wr, reported).await?;
                    last_report = Instant::now();
                }
            }
            _ = tokio::time::sleep(until_report) => {
                reported = replication.max_offset();
                report(&mut wr, reported).await?;
                last_report = Instant::now();
            }
            changed = changes.changed() => {
                if changed.is_err() || changes.borrow().as_deref() != Some(addr) {
                    return Ok(());
                }
            }
        }
        if last_read.elapsed() > housekeeping {
            warn!(master = %addr, "HA: nothing from the master for haHousekeepingInterval; reconnecting");
            return Ok(());
        }
    }
}

/// Appends every whole transfer in `buf`.
fn take_transfers(replication: &Replication, buf: &mut BytesMut) -> std::io::Result<()> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    while buf.len() >= TRANSFER_HEADER_SIZE {
        let offset = i64::from_be_bytes(buf[..8].try_into().unwrap_or_default());
        let len = i32::from_be_bytes(buf[8..12].try_into().unwrap_or_default());
        if len < 0 || len as usize > MAX_TRANSFER {
            return Err(bad(format!("master sent a transfer of {len} bytes")));
        }
        let len = len as usize;
        if len == 0 {
            // A heartbeat: says where the master is, which must be where we are
            // (Java's slave checks it unless its store is empty).
            let received = replication.received_offset();
            if received != 0 && received != offset {
                return Err(bad(format!("master is at offset {offset}, slave expects {received}")));
            }
            buf.advance(TRANSFER_HEADER_SIZE);
            continue;
        }
        if buf.len() < TRANSFER_HEADER_SIZE + len {
            buf.reserve(TRANSFER_HEADER_SIZE + len - buf.len());
            return Ok(());
        }
        replication
            .append(offset, &buf[TRANSFER_HEADER_SIZE..TRANSFER_HEADER_SIZE + len])
            .map_err(|e| bad(e.to_string()))?;
        buf.advance(TRANSFER_HEADER_SIZE + len);
    }
    Ok(())
}
