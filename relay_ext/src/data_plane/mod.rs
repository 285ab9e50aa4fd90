//! The tunnel's data calls (`saeta.v1.Tunnel/DoGet`) served from Rust: a tonic server with
//! rustls mTLS on its own port. Each arriving call is handed to Python (which decides, as
//! for Control: certificate, call id, tenant), then its messages are located and checked
//! here, off the GIL, and queued for Python as zero-copy payloads. Python learns of news
//! through one socket it watches in its event loop (see `waker`), never by a Rust thread
//! taking the GIL. See docs/decisions.md, "Serving DoGet from Rust".

pub mod call;
pub mod hub;
pub mod service;
pub mod waker;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use hub::Hub;

/// HTTP/2 receive windows. hyper's default (1 MiB each) equals one tunnel message at the
/// connector's default chunk size, so the sender stalled for a WINDOW_UPDATE after every
/// message: measured, the connector's gRPC threads spent 0.49-0.60 CPU-s per GB against
/// 0.10-0.14 with larger ones, and throughput was lower. A window also caps one call at
/// window / round trip: with 4 MiB a call moved 50 MB/s on a 100 ms link and 26 MB/s on a
/// 200 ms one, against 113 and 65 with 16 MiB, as much as grpcio's DoGet moves there
/// (benchmarks/wan.py; docs/performance.md). A slow call holds at most its stream window
/// in h2 plus its queue: a stuck session's 16 calls held +259 MiB of the gateway against
/// +134 with 4 MiB (tests/system/test_tenant_isolation.py).
const STREAM_WINDOW: u32 = 16 << 20;

/// The connection window is never what stops a call: data a stuck call has received but
/// not consumed counts against the connection's window too, so a connection window of
/// only a few stream windows let a few browsers that stopped reading freeze every other
/// query of their connector (measured: 16 MiB, four stuck calls, the fifth waited until
/// its timeout). Every stream can fill its own window, up to HTTP/2's largest connection
/// window (2^31 - 1 bytes, 127 full stream windows: a tenant's data calls are capped at 128
/// by default, limits.max_calls_per_tenant); the stream windows bound memory.
fn connection_window(max_streams: u32) -> u32 {
    max_streams.saturating_mul(STREAM_WINDOW).clamp(STREAM_WINDOW, (1 << 31) - 1)
}

/// Everything the data server needs, from the gateway's config.
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub ca_pem: Vec<u8>,
    pub max_message_bytes: usize,
    /// Messages queued per call before the server stops reading that call (backpressure).
    pub queue_depth: usize,
    pub keepalive: Duration,
    pub keepalive_timeout: Duration,
    pub handshake_timeout: Duration,
    pub max_streams_per_connection: u32,
    pub threads: usize,
}

pub struct DataPlane {
    runtime: Option<Runtime>,
    shutdown: Option<oneshot::Sender<()>>,
    pub hub: Arc<Hub>,
    pub addr: SocketAddr,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl DataPlane {
    pub fn start(s: Settings) -> io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(s.threads.max(1))
            .thread_name("saeta-data")
            .enable_all()
            .build()?;
        let addr = (s.host.as_str(), s.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io_err(format!("no address for {}", s.host)))?;
        let incoming = {
            let _guard = runtime.enter();
            TcpIncoming::bind(addr)?.with_nodelay(Some(true)).with_keepalive(Some(s.keepalive))
        };
        let addr = incoming.local_addr()?;
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(&s.cert_pem, &s.key_pem))
            .client_ca_root(Certificate::from_pem(&s.ca_pem))
            .timeout(s.handshake_timeout);
        let hub = Arc::new(Hub::new(s.queue_depth)?);
        let server = Server::builder()
            .tls_config(tls)
            .map_err(io_err)?
            .http2_keepalive_interval(Some(s.keepalive))
            .http2_keepalive_timeout(Some(s.keepalive_timeout))
            .max_concurrent_streams(s.max_streams_per_connection)
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(connection_window(s.max_streams_per_connection));
        let service = service::DataService::new(hub.clone(), s.max_message_bytes);
        let (tx, rx) = oneshot::channel::<()>();
        runtime.spawn(async move {
            let _ = server
                .serve_with_incoming_shutdown(service, incoming, async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(DataPlane { runtime: Some(runtime), shutdown: Some(tx), hub, addr })
    }

    /// Ends every call (CANCELLED, "gateway shutting down"), stops accepting, and waits up
    /// to `grace` for the server's threads.
    pub fn close(&mut self, grace: Duration) {
        self.hub.close_all("gateway shutting down");
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(grace);
        }
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.close(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_can_fill_its_window_without_stopping_the_others() {
        assert_eq!(connection_window(64), 64 * STREAM_WINDOW);
        assert_eq!(connection_window(127), 127 * STREAM_WINDOW);
        assert_eq!(connection_window(256), (1 << 31) - 1);
        assert_eq!(connection_window(0), STREAM_WINDOW);
        assert_eq!(connection_window(u32::MAX), (1 << 31) - 1);
    }
}
