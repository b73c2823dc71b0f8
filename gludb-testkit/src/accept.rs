//! The accept loop the S3 server and the fault proxy share: take the next
//! connection until told to stop, without spinning when accepting fails.

use std::time::Duration;

use tokio::{
    net::{TcpListener, TcpStream},
    sync::oneshot,
};

/// Registers a bound std listener with the current runtime; `None` (after
/// saying why on stderr) if that fails.
pub(crate) fn register(listener: std::net::TcpListener, what: &str) -> Option<TcpListener> {
    match TcpListener::from_std(listener) {
        Ok(listener) => Some(listener),
        Err(e) => {
            eprintln!("gludb-testkit: {what} cannot register its listener: {e}");
            None
        }
    }
}

/// The next connection, with Nagle off, or `None` once `shutdown` fires
/// (or its sender is dropped).
pub(crate) async fn next_connection(
    listener: &TcpListener,
    shutdown: &mut oneshot::Receiver<()>,
) -> Option<TcpStream> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _peer)) => {
                    // Nagle delays small responses behind the client's delayed ACK.
                    let _ = socket.set_nodelay(true);
                    return Some(socket);
                }
                // Usually out of file descriptors: back off a little instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = &mut *shutdown => return None,
        }
    }
}
