//! What the harness cannot see through its plain-HTTP proxy: a cold start's first TLS
//! handshake. A fresh process loads the platform's root certificates (as
//! aws-smithy-http-client does when a client is built) and writes its first ClientHello with
//! rustls on aws-lc-rs, the SDK's default provider (`default-https-client`): the key share is
//! the process's first use of randomness, so aws-lc seeds its DRBG here (CPU jitter entropy
//! unless aws-lc-sys was built with `AWS_LC_SYS_NO_JITTER_ENTROPY=1`). Built in the same cargo
//! invocation as the functions, it shares their rustls and aws-lc-sys build. Prints one line:
//! `roots_us=… roots=… first_hello_us=…`; exits 1 if there are no roots or no ClientHello.

use std::sync::Arc;
use std::time::Instant;

fn main() {
    let start = Instant::now();
    let certs = rustls_native_certs::load_native_certs().certs;
    let mut roots = rustls::RootCertStore::empty();
    let (valid, _invalid) = roots.add_parsable_certificates(certs);
    let roots_done = Instant::now();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let hello = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())
        .and_then(|b| {
            let config = Arc::new(b.with_root_certificates(roots).with_no_client_auth());
            let name = rustls::pki_types::ServerName::try_from("sagemaker.us-east-1.amazonaws.com")
                .map_err(|e| e.to_string())?;
            let mut conn =
                rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            conn.write_tls(&mut out).map_err(|e| e.to_string())?;
            Ok(out.len())
        });
    let hello_done = Instant::now();
    match hello {
        Ok(bytes) if bytes > 0 && valid > 0 => println!(
            "roots_us={} roots={valid} first_hello_us={}",
            (roots_done - start).as_micros(),
            (hello_done - roots_done).as_micros()
        ),
        Ok(_) => {
            eprintln!("bench-tls: {valid} root certificates, empty ClientHello");
            std::process::exit(1)
        }
        Err(e) => {
            eprintln!("bench-tls: {e}");
            std::process::exit(1)
        }
    }
}
