//! A TLS-terminating front for the fake, so that tests can reach it over
//! `https://` (through a proxy's CONNECT tunnel, for instance): it holds a
//! throw-away CA and a certificate for `127.0.0.1` and `localhost` signed
//! by it, and forwards every decrypted connection to the plain fake.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

/// A running TLS front.
#[derive(Debug, Clone)]
pub struct TlsFront {
    /// The base URL to give peaka-wait (`https://127.0.0.1:PORT/api/v1`).
    pub base_url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The CA that signed its certificate, in PEM: point `SSL_CERT_FILE`
    /// at a file holding it to make a client trust the front.
    pub ca_pem: String,
}

/// Starts a front on 127.0.0.1 forwarding to the plain fake at `target`
/// (whose paths start with `prefix`, like `/api/v1`), in the current tokio
/// runtime.
pub async fn start(target: SocketAddr, prefix: &str) -> std::io::Result<TlsFront> {
    start_for(target, prefix, &["127.0.0.1", "localhost"]).await
}

/// As [`start`], with a certificate for these names only: one that leaves
/// out `127.0.0.1` is a certificate for another host, as a wrong
/// `--base-url` (or a proxy that inspects TLS) would show.
pub async fn start_for(
    target: SocketAddr,
    prefix: &str,
    names: &[&str],
) -> std::io::Result<TlsFront> {
    let invalid = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(|e| invalid(&e))?;
    let mut ca_params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| invalid(&e))?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fake-peaka test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(|e| invalid(&e))?;
    let leaf_key = rcgen::KeyPair::generate().map_err(|e| invalid(&e))?;
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let leaf = rcgen::CertificateParams::new(names)
        .and_then(|params| params.signed_by(&leaf_key, &ca))
        .map_err(|e| invalid(&e))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(&e))?
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
    .map_err(|e| invalid(&e))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Ok(TlsFront {
        base_url: format!(
            "https://127.0.0.1:{}{}",
            addr.port(),
            prefix.trim_end_matches('/')
        ),
        addr,
        ca_pem: pem("CERTIFICATE", ca.der()),
    })
}

/// DER as PEM: base64 in 64-column lines between the markers.
fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::new();
    for chunk in der.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                encoded.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pem_is_base64_with_padding() {
        assert_eq!(
            super::pem("X", b"Man"),
            "-----BEGIN X-----\nTWFu\n-----END X-----\n"
        );
        assert_eq!(
            super::pem("X", b"Ma"),
            "-----BEGIN X-----\nTWE=\n-----END X-----\n"
        );
        assert_eq!(
            super::pem("X", b"M"),
            "-----BEGIN X-----\nTQ==\n-----END X-----\n"
        );
    }
}
