//! Servers that misbehave at the transport level, below what a scripted
//! HTTP scenario can do: they speak raw TCP (or TLS) so that a reply can
//! be reset, withheld, dripped, cut short or made enormous.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One way to misbehave, on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Accept, read the request, reset the connection (RST).
    Reset,
    /// Accept, read the request, never answer.
    Hang,
    /// Send the headers of a 4 KiB body, then one byte every 200 ms.
    Drip,
    /// Send the headers of a 500-byte body, 10 bytes of it, then close.
    Truncated,
    /// A 200 whose chunked body is 64 MiB.
    Huge,
    /// 429 with `Retry-After: 1`, always.
    RateLimitStorm,
    /// TLS with a self-signed certificate no client should trust.
    UntrustedTls,
}

impl Fault {
    /// Every fault, for tests and benchmarks that go through them all.
    pub const ALL: [Fault; 7] = [
        Fault::Reset,
        Fault::Hang,
        Fault::Drip,
        Fault::Truncated,
        Fault::Huge,
        Fault::RateLimitStorm,
        Fault::UntrustedTls,
    ];
}

/// A running fault server.
#[derive(Debug, Clone)]
pub struct FaultServer {
    /// The base URL to give peaka-wait (`http://` or, for TLS, `https://`).
    pub base_url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
}

/// Starts a fault server on 127.0.0.1 in the current tokio runtime.
pub async fn start(fault: Fault) -> std::io::Result<FaultServer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let tls = match fault {
        Fault::UntrustedTls => Some(untrusted_acceptor()?),
        _ => None,
    };
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        // The client is expected to abort the handshake.
                        let _ = acceptor.accept(socket).await;
                    }
                    None => misbehave(socket, fault).await,
                }
            });
        }
    });
    let scheme = if fault == Fault::UntrustedTls {
        "https"
    } else {
        "http"
    };
    Ok(FaultServer {
        base_url: format!("{scheme}://{addr}/api/v1"),
        addr,
    })
}

async fn misbehave(mut socket: TcpStream, fault: Fault) {
    let mut head = vec![0u8; 8192];
    let _ = socket.read(&mut head).await;
    let _ = match fault {
        Fault::Reset => {
            // Linger 0 turns the close into a reset.
            let _ = socket.set_zero_linger();
            Ok(())
        }
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
        Fault::Drip => drip(&mut socket).await,
        Fault::Truncated => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"status\":")
                .await
        }
        Fault::Huge => huge(&mut socket).await,
        Fault::RateLimitStorm => {
            socket
                .write_all(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")
                .await
        }
        Fault::UntrustedTls => Ok(()),
    };
}

async fn drip(socket: &mut TcpStream) -> std::io::Result<()> {
    socket
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n",
        )
        .await?;
    for _ in 0..4096 {
        socket.write_all(b" ").await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

async fn huge(socket: &mut TcpStream) -> std::io::Result<()> {
    socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").await?;
    let chunk = vec![b' '; 64 * 1024];
    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
    framed.extend_from_slice(&chunk);
    framed.extend_from_slice(b"\r\n");
    for _ in 0..1024 {
        socket.write_all(&framed).await?;
    }
    socket.write_all(b"0\r\n\r\n").await
}

fn untrusted_acceptor() -> std::io::Result<tokio_rustls::TlsAcceptor> {
    let invalid = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .map_err(|e| invalid(&e))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(&e))?
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .map_err(|e| invalid(&e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
