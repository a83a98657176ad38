//! The TLS set-up of the HTTP client: which certificates are trusted, and
//! reading the machine's store only when something will be verified, at
//! most once per process.

use std::sync::{Arc, OnceLock};

/// rustls with Mozilla's roots compiled in (so a scratch container with no
/// CA store still works) plus the machine's store, which honours
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` for corporate CAs. Without
/// `needs_roots` (nothing will be verified) the stores are not read at
/// all: reading the machine's store was most of the cost of a one-poll run.
pub fn config(needs_roots: bool) -> Result<rustls::ClientConfig, String> {
    let roots = if needs_roots {
        machine_roots().clone()
    } else {
        rustls::RootCertStore::empty()
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .map_err(|err| format!("cannot set up TLS: {err}"))
}

/// The trusted roots, read once per process however many clients are
/// built.
fn machine_roots() -> &'static rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // Certificates that are missing or unreadable are skipped: the
        // bundled roots still apply, and a failing handshake names the
        // real problem.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_setup_works_without_a_system_store() {
        let config = config(true).unwrap();
        assert!(!config.alpn_protocols.contains(&b"h3".to_vec()));
        assert!(super::config(false).is_ok());
    }
}
