//! A TCP forwarder between the application and a real server, shared by the test binaries
//! (`tests/api` and `tests/compose.rs` include it with `#[path]`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP forwarder between the application and a real server, which a test can cut to
/// simulate that server going down (and restore to bring it back).
pub struct TcpProxy {
    pub address: SocketAddr,
    target: SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts forwarding a free loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("an address");
        let mut proxy = Self {
            address,
            target,
            connections: Arc::default(),
            acceptor: None,
        };
        proxy.accept_on(listener);
        proxy
    }

    fn accept_on(&mut self, listener: TcpListener) {
        let target = self.target;
        let connections = self.connections.clone();
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().expect("lock").push(forward);
            }
        }));
    }

    /// Closes the port and every open connection: the server looks down.
    pub fn cut(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
        for connection in self.connections.lock().expect("lock").drain(..) {
            connection.abort();
        }
    }

    /// Listens again on the same port: the server looks back up.
    #[allow(
        dead_code,
        reason = "tests/compose.rs cuts MongoDB off for good and never restores it"
    )]
    pub async fn restore(&mut self) {
        let listener = TcpListener::bind(self.address)
            .await
            .expect("the same port again");
        self.accept_on(listener);
    }
}
