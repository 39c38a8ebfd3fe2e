//! The master's end of replication (Java's AcceptSocketService and HAConnection): one
//! task pair per slave, a reader taking the slave's offset reports and a writer sending
//! CommitLog data from where the slave asked.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use super::{Replication, TRANSFER_HEADER_SIZE};

/// Accepts slaves; each link is a task of this future's own set, so dropping (aborting)
/// the future closes every link.
pub async fn serve(replication: Replication, listener: TcpListener) {
    let mut links = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = links.join_next(), if !links.is_empty() => continue,
        };
        match accepted {
            Ok((stream, peer)) => {
                info!(%peer, "HA: slave connected");
                let r = replication.clone();
                links.spawn(async move {
                    serve_slave(r, stream).await;
                    info!(%peer, "HA: slave link closed");
                });
            }
            Err(e) => {
                warn!("HA: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Counts the link while it lives, so `isSlaveOK` sees it.
struct Connected(Replication);
impl Drop for Connected {
    fn drop(&mut self) {
        self.0.slave_disconnected();
    }
}

async fn serve_slave(replication: Replication, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    replication.slave_connected();
    let _connected = Connected(replication.clone());
    let (rd, wr) = stream.into_split();
    // -1 until the slave's first report says where to start.
    let requested = Arc::new(AtomicI64::new(-1));
    let first_report = Arc::new(tokio::sync::Notify::new());
    tokio::select! {
        r = read_reports(replication.clone(), rd, requested.clone(), first_report.clone()) => {
            if let Err(e) = r { debug!("HA: slave reports ended: {e}"); }
        }
        r = write_data(replication, wr, requested, first_report) => {
            if let Err(e) = r { debug!("HA: transfer to slave ended: {e}"); }
        }
    }
}

/// Reads the slave's 8-byte offset reports. A link silent for `haHousekeepingInterval`
/// is closed, as is one whose slave claims more than the master has.
async fn read_reports(
    replication: Replication,
    mut rd: OwnedReadHalf,
    requested: Arc<AtomicI64>,
    first_report: Arc<tokio::sync::Notify>,
) -> std::io::Result<()> {
    let mut buf = [0u8; 8];
    loop {
        match tokio::time::timeout(replication.housekeeping_interval(), rd.read_exact(&mut buf)).await {
            Err(_) => {
                warn!("HA: slave silent longer than haHousekeepingInterval; closing its link");
                return Ok(());
            }
            Ok(r) => {
                r?;
            }
        }
        let offset = i64::from_be_bytes(buf);
        if requested.load(Ordering::Acquire) < 0 {
            info!(offset, "HA: slave requests data from offset");
            requested.store(offset, Ordering::Release);
            first_report.notify_one();
        } else if offset > replication.max_offset() {
            warn!(
                offset,
                max = replication.max_offset(),
                "HA: slave reports an offset beyond this master's CommitLog; closing its link"
            );
            return Ok(());
        }
        replication.slave_acknowledged(offset);
    }
}

/// Sends CommitLog data from the requested offset on, and an empty header when there
/// has been nothing to send for `haSendHeartbeatInterval`.
async fn write_data(
    replication: Replication,
    mut wr: OwnedWriteHalf,
    requested: Arc<AtomicI64>,
    first_report: Arc<tokio::sync::Notify>,
) -> std::io::Result<()> {
    while requested.load(Ordering::Acquire) < 0 {
        first_report.notified().await;
    }
    let asked = requested.load(Ordering::Acquire);
    let mut next = if asked == 0 {
        // A new slave gets the master's last file from its start.
        let max = replication.max_offset();
        (max - max.rem_euclid(replication.file_size())).max(0)
    } else {
        asked
    };
    info!(from = next, asked, "HA: transferring to slave");
    let heartbeat = replication.heartbeat_interval();
    let mut last_write = Instant::now();
    loop {
        let notified = replication.new_data().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(data) = replication.data_from(next) {
            write_header(&mut wr, next, data.len() as i32).await?;
            wr.write_all(&data).await?;
            next += data.len() as i64;
            last_write = Instant::now();
            continue;
        }
        if last_write.elapsed() >= heartbeat {
            write_header(&mut wr, next, 0).await?;
            last_write = Instant::now();
        }
        let wait = heartbeat.saturating_sub(last_write.elapsed());
        // Woken by new data; the 100 ms poll covers data published without a dispatch
        // (Java's writer waits 100 ms at most too).
        let _ = tokio::time::timeout(wait.min(std::time::Duration::from_millis(100)), notified).await;
        if replication.stopped() {
            return Ok(());
        }
    }
}

async fn write_header(wr: &mut OwnedWriteHalf, offset: i64, len: i32) -> std::io::Result<()> {
    let mut header = [0u8; TRANSFER_HEADER_SIZE];
    header[..8].copy_from_slice(&offset.to_be_bytes());
    header[8..].copy_from_slice(&len.to_be_bytes());
    wr.write_all(&header).await
}
