//! A TCP proxy a test can cut and restore, put between the server and its database to act
//! out a database restart: [`Proxy::cut`] drops every open connection at once and turns new
//! ones away (accepted, then closed before a byte is answered, as a server going down does);
//! [`Proxy::hang`] acts out a database host that stopped answering (connections accepted and
//! then never answered); [`Proxy::restore`] lets connections through again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// New connections are held open without an answer (a host that stopped answering).
    hung: Arc<AtomicBool>,
    /// Bumped by every cut; each relay ends when it changes.
    cuts: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (ephemeral port) and relays to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let hung = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let task = {
            let up = up.clone();
            let hung = hung.clone();
            let cuts = cuts.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if hung.load(Ordering::SeqCst) {
                        let mut cut = cuts.subscribe();
                        tokio::spawn(async move {
                            let _held = client;
                            let _ = cut.changed().await;
                        });
                        continue;
                    }
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let mut cut = cuts.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let mut client = client;
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.changed() => {}
                        }
                        // Dropping both ends resets them: the database "went away".
                    });
                }
            })
        };
        Proxy {
            addr,
            up,
            hung,
            cuts,
            task,
        }
    }

    /// The database goes down: open connections die, new ones are turned away.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// The database host stops answering: open connections die, new ones are accepted and
    /// never answered.
    pub fn hang(&self) {
        self.hung.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// The database is back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        if self.hung.swap(false, Ordering::SeqCst) {
            self.cuts.send_modify(|n| *n += 1);
        }
    }

    /// `url` (a `postgres://` URL) with its host and port replaced by this proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let rest = &url[after_scheme..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let userinfo = authority
            .rfind('@')
            .map_or(String::new(), |i| authority[..=i].to_string());
        format!(
            "{}{}{}{}",
            &url[..after_scheme],
            userinfo,
            self.addr,
            &rest[authority_end..]
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// The `host:port` of a `postgres://` URL, resolved (default port 5432).
pub async fn upstream_of(url: &str) -> SocketAddr {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    let mut addrs = tokio::net::lookup_host(host_port.as_str())
        .await
        .expect("resolve the database host");
    addrs.next().expect("an address for the database host")
}
