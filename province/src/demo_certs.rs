//! Demo certificates for the example federation and tests: a CA, a province
//! server certificate and client certificates it issues.
//!
//! `province-demo-certs DIR` writes the set in `config-examples/demo-certs/`.
//! They are published, so they are for local use only; a real deployment
//! uses certificates from the province's and city's own PKI.

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// How long demo certificates are valid: ten years.
pub const VALIDITY: Duration = Duration::days(3653);

/// A certificate and its private key, in PEM.
#[derive(Debug, Clone)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// Its PKCS#8 private key.
    pub key: String,
}

/// A certificate authority that issues demo certificates.
pub struct DemoCa {
    cert: Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for DemoCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("DemoCa").finish_non_exhaustive()
    }
}

fn params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Rongxin demo (local use only)");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    // A day of slack for clocks that run behind.
    p.not_before = now - Duration::days(1);
    p.not_after = now + VALIDITY;
    p
}

impl DemoCa {
    /// A new self-signed CA named `cn`.
    pub fn new(cn: &str) -> Result<DemoCa, rcgen::Error> {
        let mut p = params(cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = p.self_signed(&key)?;
        Ok(DemoCa { cert, key })
    }

    /// The CA certificate in PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `127.0.0.1` and `localhost`.
    pub fn issue_server(&self, cn: &str) -> Result<Pem, rcgen::Error> {
        let mut p = params(cn);
        p.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into()?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(p)
    }

    /// A client certificate whose subject CN is `cn` (a sender name such as `city`).
    pub fn issue_client(&self, cn: &str) -> Result<Pem, rcgen::Error> {
        let mut p = params(cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(p)
    }

    fn issue(&self, mut p: CertificateParams) -> Result<Pem, rcgen::Error> {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.cert, &self.key)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}
