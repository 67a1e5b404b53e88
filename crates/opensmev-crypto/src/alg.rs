//! Algorithm identifiers and their XMLDSig URIs (CryptoPro / W3C names).

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// GOST R 34.11-2012, 256 bit (Streebog-256). SMEV default.
    Gost3411_2012_256,
    /// GOST R 34.11-2012, 512 bit (Streebog-512).
    Gost3411_2012_512,
    /// GOST R 34.11-94 (legacy, with the CryptoPro parameter set as in OpenSSL's `md_gost94`).
    Gost3411_94,
    /// SHA-256.
    Sha256,
}

impl DigestAlgorithm {
    /// All known digest algorithms.
    pub const ALL: [DigestAlgorithm; 4] = [
        DigestAlgorithm::Gost3411_2012_256,
        DigestAlgorithm::Gost3411_2012_512,
        DigestAlgorithm::Gost3411_94,
        DigestAlgorithm::Sha256,
    ];

    /// The URI written into `DigestMethod/@Algorithm`.
    pub fn uri(self) -> &'static str {
        match self {
            DigestAlgorithm::Gost3411_2012_256 => {
                "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-256"
            }
            DigestAlgorithm::Gost3411_2012_512 => {
                "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-512"
            }
            DigestAlgorithm::Gost3411_94 => "http://www.w3.org/2001/04/xmldsig-more#gostr3411",
            DigestAlgorithm::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
        }
    }

    /// Parses a `DigestMethod/@Algorithm` URI, accepting the aliases seen in the field.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-256"
            | "http://www.w3.org/2001/04/xmldsig-more#gostr34112012-256" => {
                DigestAlgorithm::Gost3411_2012_256
            }
            "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-512"
            | "http://www.w3.org/2001/04/xmldsig-more#gostr34112012-512" => {
                DigestAlgorithm::Gost3411_2012_512
            }
            "http://www.w3.org/2001/04/xmldsig-more#gostr3411"
            | "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr3411" => {
                DigestAlgorithm::Gost3411_94
            }
            "http://www.w3.org/2001/04/xmlenc#sha256" => DigestAlgorithm::Sha256,
            _ => return None,
        })
    }

    /// Short human name.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Gost3411_2012_256 => "GOST R 34.11-2012 (256)",
            DigestAlgorithm::Gost3411_2012_512 => "GOST R 34.11-2012 (512)",
            DigestAlgorithm::Gost3411_94 => "GOST R 34.11-94",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    /// Whether this algorithm needs the GOST engine.
    pub fn is_gost(self) -> bool {
        !matches!(self, DigestAlgorithm::Sha256)
    }
}

/// The type of a public/private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// GOST R 34.10-2012 with a 256-bit key.
    Gost2012_256,
    /// GOST R 34.10-2012 with a 512-bit key.
    Gost2012_512,
    /// GOST R 34.10-2001.
    Gost2001,
    /// ECDSA on NIST P-256.
    EcP256,
    /// RSA.
    Rsa,
    /// Anything else (the OID is kept for messages).
    Other,
}

impl KeyAlgorithm {
    /// Short human name.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Gost2012_256 => "GOST R 34.10-2012 (256)",
            KeyAlgorithm::Gost2012_512 => "GOST R 34.10-2012 (512)",
            KeyAlgorithm::Gost2001 => "GOST R 34.10-2001",
            KeyAlgorithm::EcP256 => "ECDSA P-256",
            KeyAlgorithm::Rsa => "RSA",
            KeyAlgorithm::Other => "unknown",
        }
    }
}

/// A signature algorithm (key type + digest), as named by `SignatureMethod/@Algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// GOST R 34.10-2012 / 34.11-2012, 256 bit. The default.
    Gost2012_256,
    /// GOST R 34.10-2012 / 34.11-2012, 512 bit.
    Gost2012_512,
    /// GOST R 34.10-2001 / 34.11-94 (legacy; verify only in the bus, signing kept for tests).
    Gost2001,
    /// ECDSA P-256 with SHA-256.
    EcdsaP256Sha256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RsaSha256,
}

impl SignatureAlgorithm {
    /// All known signature algorithms.
    pub const ALL: [SignatureAlgorithm; 5] = [
        SignatureAlgorithm::Gost2012_256,
        SignatureAlgorithm::Gost2012_512,
        SignatureAlgorithm::Gost2001,
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::RsaSha256,
    ];

    /// The URI written into `SignatureMethod/@Algorithm`.
    pub fn uri(self) -> &'static str {
        match self {
            SignatureAlgorithm::Gost2012_256 => {
                "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256"
            }
            SignatureAlgorithm::Gost2012_512 => {
                "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-512"
            }
            SignatureAlgorithm::Gost2001 => {
                "http://www.w3.org/2001/04/xmldsig-more#gostr34102001-gostr3411"
            }
            SignatureAlgorithm::EcdsaP256Sha256 => {
                "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
            }
            SignatureAlgorithm::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        }
    }

    /// Parses a `SignatureMethod/@Algorithm` URI, accepting the aliases seen in the field.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256"
            | "http://www.w3.org/2001/04/xmldsig-more#gostr34102012-gostr34112012-256" => {
                SignatureAlgorithm::Gost2012_256
            }
            "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-512"
            | "http://www.w3.org/2001/04/xmldsig-more#gostr34102012-gostr34112012-512" => {
                SignatureAlgorithm::Gost2012_512
            }
            "http://www.w3.org/2001/04/xmldsig-more#gostr34102001-gostr3411"
            | "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102001-gostr3411" => {
                SignatureAlgorithm::Gost2001
            }
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => {
                SignatureAlgorithm::EcdsaP256Sha256
            }
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => SignatureAlgorithm::RsaSha256,
            _ => return None,
        })
    }

    /// The CLI name (`gost2012-256`, `gost2012-512`, `gost2001`, `ecdsa-p256`, `rsa-sha256`).
    pub fn cli_name(self) -> &'static str {
        match self {
            SignatureAlgorithm::Gost2012_256 => "gost2012-256",
            SignatureAlgorithm::Gost2012_512 => "gost2012-512",
            SignatureAlgorithm::Gost2001 => "gost2001",
            SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256",
            SignatureAlgorithm::RsaSha256 => "rsa-sha256",
        }
    }

    /// Parses a CLI name (see [`SignatureAlgorithm::cli_name`]).
    pub fn from_cli_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.cli_name() == name)
    }

    /// Short human name.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::Gost2012_256 => "GOST R 34.10-2012 (256) / 34.11-2012",
            SignatureAlgorithm::Gost2012_512 => "GOST R 34.10-2012 (512) / 34.11-2012",
            SignatureAlgorithm::Gost2001 => "GOST R 34.10-2001 / 34.11-94",
            SignatureAlgorithm::EcdsaP256Sha256 => "ECDSA P-256 / SHA-256",
            SignatureAlgorithm::RsaSha256 => "RSA / SHA-256",
        }
    }

    /// The digest this signature algorithm hashes with (and the natural `DigestMethod` for
    /// references signed with it).
    pub fn digest(self) -> DigestAlgorithm {
        match self {
            SignatureAlgorithm::Gost2012_256 => DigestAlgorithm::Gost3411_2012_256,
            SignatureAlgorithm::Gost2012_512 => DigestAlgorithm::Gost3411_2012_512,
            SignatureAlgorithm::Gost2001 => DigestAlgorithm::Gost3411_94,
            SignatureAlgorithm::EcdsaP256Sha256 | SignatureAlgorithm::RsaSha256 => {
                DigestAlgorithm::Sha256
            }
        }
    }

    /// The key type this algorithm needs.
    pub fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            SignatureAlgorithm::Gost2012_256 => KeyAlgorithm::Gost2012_256,
            SignatureAlgorithm::Gost2012_512 => KeyAlgorithm::Gost2012_512,
            SignatureAlgorithm::Gost2001 => KeyAlgorithm::Gost2001,
            SignatureAlgorithm::EcdsaP256Sha256 => KeyAlgorithm::EcP256,
            SignatureAlgorithm::RsaSha256 => KeyAlgorithm::Rsa,
        }
    }

    /// The natural signature algorithm for a key type.
    pub fn for_key(key: KeyAlgorithm) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.key_algorithm() == key)
    }

    /// Whether this algorithm needs the GOST engine.
    pub fn is_gost(self) -> bool {
        matches!(
            self,
            SignatureAlgorithm::Gost2012_256
                | SignatureAlgorithm::Gost2012_512
                | SignatureAlgorithm::Gost2001
        )
    }
}
