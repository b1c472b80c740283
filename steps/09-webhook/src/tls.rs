//! TLS without cert-manager: the program is its own certificate authority.
//!
//! The API server calls webhooks over HTTPS only, and checks the certificate the
//! webhook presents like any HTTPS client does: it must be signed by an authority the
//! API server trusts *for this webhook*, and it must name the host the API server
//! dialled. The webhook's configuration carries that authority, as `caBundle`.
//!
//! So at every start the program makes a fresh authority (a key and a self-signed CA
//! certificate), signs a serving certificate with it for the names of [`Endpoint`],
//! serves with the serving certificate, and registers the authority as `caBundle`.
//! The keys never leave the process's memory: a restart makes new ones and registers
//! the new authority. The price: two processes cannot share one registration (each
//! would overwrite the other's `caBundle`), so the webhook runs as one replica; more
//! replicas need a shared key (a Secret) or cert-manager, which does this job for a
//! whole cluster.
// Starter code: the imports, parameters and helpers that the TODOs below need are
// unused until you write them. Once they are done, delete the `allow` below: the
// compiler then checks that you left none.
#![allow(unused_imports, unused_variables, dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    ServiceReference, WebhookClientConfig,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::register::PATH;

/// The port of the webhook's Service (the API server calls Services on 443 unless
/// told otherwise); it forwards to the Pod's 8443.
pub const SERVICE_PORT: u16 = 443;

/// How long the certificates are valid. They last as long as the process in
/// practice (a restart makes new ones); a bound makes a forgotten one expire.
const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

// ANCHOR: endpoint
/// Where the API server calls the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `https://<host>:<port>/validate`: a program outside the cluster, at an address
    /// the API server can reach (an IP address or a DNS name).
    Url { host: String, port: u16 },
    /// Through a Service of the cluster: the API server calls
    /// `https://<name>.<namespace>.svc:<port>/validate`.
    Service {
        namespace: String,
        name: String,
        port: u16,
    },
}
// ANCHOR_END: endpoint

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Url { host, port } if host.contains(':') => {
                write!(f, "https://[{host}]:{port}{PATH}")
            }
            Endpoint::Url { host, port } => write!(f, "https://{host}:{port}{PATH}"),
            Endpoint::Service {
                namespace,
                name,
                port,
            } => write!(f, "service {namespace}/{name}:{port}{PATH}"),
        }
    }
}

impl Endpoint {
    /// The `clientConfig` of the webhook's configuration: where to call, and the
    /// authority to trust.
    pub fn client_config(&self, ca_bundle: ByteString) -> WebhookClientConfig {
        match self {
            Endpoint::Url { .. } => WebhookClientConfig {
                url: Some(self.to_string()),
                ca_bundle: Some(ca_bundle),
                service: None,
            },
            Endpoint::Service {
                namespace,
                name,
                port,
            } => WebhookClientConfig {
                service: Some(ServiceReference {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    path: Some(PATH.into()),
                    port: Some(i32::from(*port)),
                }),
                ca_bundle: Some(ca_bundle),
                url: None,
            },
        }
    }
}

/// Parses `--service NAMESPACE/NAME`.
pub fn parse_service(value: &str) -> Result<(String, String), String> {
    match value.split_once('/') {
        Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => {
            Ok((namespace.into(), name.into()))
        }
        _ => Err(format!("{value}: expected NAMESPACE/NAME")),
    }
}

// ANCHOR: names
// TODO(exercise 9.3): Name, in the serving certificate, the host the API server
//     dials.
// The API server accepts the webhook's certificate only if one of its names is the
// host it dialled: for a `url`, the URL's host (an IP address such as 127.0.0.1, or a
// DNS name); for a Service, the name the API server gives the Service when it calls
// it, `<name>.<namespace>.svc`. Return those names; rcgen makes an IP address of a
// name that is one, and a DNS name of the others.
// Proved by: the_certificate_is_accepted_for_the_url_host,
//   the_certificate_is_accepted_for_the_service_name,
//   the_webhook_refuses_a_run_of_a_missing_task
// Needs: 9.1, 9.2, 9.4
// Path: stretch, 10 min
// Book: "Step 09 > Exercise 9.3: the names in the certificate"
pub fn server_names(endpoint: &Endpoint) -> Vec<String> {
    todo!(
        "Exercise 9.3: Name, in the serving certificate, the host the API server \
         dials."
    )
}
// ANCHOR_END: names

/// Why no certificate could be made or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make the webhook's certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot serve with the webhook's certificate: {0}")]
    Serve(#[from] rustls::Error),
}

/// The authority the API server is told to trust, and the certificate and key the
/// server presents.
pub struct Certificates {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    serving: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").finish_non_exhaustive()
    }
}

// ANCHOR: generate
impl Certificates {
    /// A new certificate authority, and a serving certificate it signs for the names
    /// of `endpoint`.
    pub fn generate(endpoint: &Endpoint) -> Result<Self, TlsError> {
        let now = SystemTime::now();
        // A few minutes back: a machine whose clock is a little ahead of ours must
        // not find the certificate not yet valid.
        let not_before = now - Duration::from_secs(300);

        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, "taskrun-webhook certificate authority");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.not_before = not_before.into();
        ca.not_after = (now + VALIDITY).into();
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let names = server_names(endpoint);
        let mut serving = CertificateParams::new(names.clone())?;
        serving.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        serving.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        serving.not_before = not_before.into();
        serving.not_after = (now + VALIDITY).into();
        let key = KeyPair::generate()?;
        let cert = serving.signed_by(&key, &issuer)?;

        Ok(Self {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            serving: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// The webhook configuration's `caBundle`: the authority's certificate, PEM.
    pub fn ca_bundle(&self) -> ByteString {
        ByteString(self.ca_pem.clone().into_bytes())
    }

    /// The authority's certificate (for a client that checks the server, in tests).
    pub fn ca_certificate(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// The serving certificate the server presents.
    pub fn serving_certificate(&self) -> &CertificateDer<'static> {
        &self.serving
    }

    /// rustls' server configuration: the serving certificate and its key, with the
    /// `ring` provider kube's client uses too.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.serving.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
// ANCHOR_END: generate

#[cfg(test)]
mod tests {
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};

    use super::*;

    /// What an HTTPS client that trusts only `certificates`' authority says when the
    /// server presents the serving certificate at `host`: the check the API server
    /// makes.
    fn verify(certificates: &Certificates, host: &str) -> Result<(), String> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(certificates.ca_certificate().clone())
            .map_err(|err| err.to_string())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|err| err.to_string())?;
        let name =
            ServerName::try_from(host.to_string()).map_err(|err| err.to_string())?;
        verifier
            .verify_server_cert(
                certificates.serving_certificate(),
                &[],
                &name,
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
            .map_err(|err| err.to_string())
    }

    #[test]
    fn the_certificate_is_accepted_for_the_url_host() {
        for host in ["127.0.0.1", "172.18.0.1", "host.docker.internal"] {
            let endpoint = Endpoint::Url {
                host: host.into(),
                port: 8443,
            };
            let certificates = Certificates::generate(&endpoint).unwrap();
            verify(&certificates, host).unwrap_or_else(|err| {
                panic!(
                    "the API server calls {endpoint} and checks that the certificate \
                     names {host}; it refuses this one: {err} (the names were {:?})",
                    server_names(&endpoint)
                )
            });
            assert!(
                verify(&certificates, "198.51.100.7").is_err(),
                "a certificate for {host} is also accepted for another host"
            );
        }
    }

    #[test]
    fn the_certificate_is_accepted_for_the_service_name() {
        let endpoint = Endpoint::Service {
            namespace: "workshop-system".into(),
            name: "taskrun-webhook".into(),
            port: SERVICE_PORT,
        };
        let certificates = Certificates::generate(&endpoint).unwrap();
        let host = "taskrun-webhook.workshop-system.svc";
        verify(&certificates, host).unwrap_or_else(|err| {
            panic!(
                "the API server calls the Service as {host} and checks that the \
                 certificate names it; it refuses this one: {err} (the names were {:?})",
                server_names(&endpoint)
            )
        });
        assert!(
            verify(&certificates, "taskrun-webhook.other-namespace.svc").is_err(),
            "a certificate for the Service of workshop-system is also accepted for \
             another namespace's"
        );
    }

    #[test]
    fn the_client_config_calls_the_url_or_the_service_and_trusts_the_authority() {
        let url = Endpoint::Url {
            host: "127.0.0.1".into(),
            port: 8443,
        };
        let config = url.client_config(ByteString(b"PEM".to_vec()));
        assert_eq!(
            config.url.as_deref(),
            Some("https://127.0.0.1:8443/validate")
        );
        assert_eq!(config.ca_bundle, Some(ByteString(b"PEM".to_vec())));
        assert!(config.service.is_none());
        let service = Endpoint::Service {
            namespace: "workshop-system".into(),
            name: "taskrun-webhook".into(),
            port: 443,
        };
        let config = service.client_config(ByteString(b"PEM".to_vec()));
        let reference = config.service.expect("a service reference");
        assert_eq!(reference.name, "taskrun-webhook");
        assert_eq!(reference.path.as_deref(), Some("/validate"));
        assert_eq!(reference.port, Some(443));
        assert!(config.url.is_none());
        let pem = Certificates::generate(&url).unwrap().ca_bundle();
        assert!(
            String::from_utf8_lossy(&pem.0)
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
    }
}
