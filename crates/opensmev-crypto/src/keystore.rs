//! Signing keys held by the bus on behalf of information systems: the [`KeyStore`] trait and its
//! directory implementation [`FileKeyStore`] (PKCS#8 keys encrypted with a store passphrase).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openssl::pkey::PKey;
use openssl::symm::Cipher;
use time::OffsetDateTime;

use crate::openssl_provider::gost_engine_status;
use crate::{Certificate, CryptoError, CryptoProvider, KeyAlgorithm, SignatureAlgorithm, Signer};

/// Longest owner name accepted (file names stay well below the usual 255-byte limit).
const MAX_OWNER_LEN: usize = 100;
const KEY_SUFFIX: &str = ".key.pem";
const CERT_SUFFIX: &str = ".cert.pem";

/// One key held by a [`KeyStore`], as [`KeyStore::list`] reports it (no secret material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The information system the key belongs to (its mnemonic).
    pub owner: String,
    /// SHA-1 thumbprint of the certificate (lower-case hex, as [`Certificate::thumbprint_sha1`]).
    pub thumbprint_sha1: String,
    /// The certificate subject, as text.
    pub subject: String,
    /// End of the certificate's validity.
    pub not_after: OffsetDateTime,
}

/// Signing keys held by the bus on behalf of information systems, one key per owner (an IS
/// mnemonic).
///
/// [`FileKeyStore`] keeps them in a directory, encrypted with a passphrase; a hardware security
/// module (PKCS#11, CryptoPro) can implement this trait later — callers only ever get a
/// [`Signer`], never the key bytes.
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// The signer for `owner`'s key, or `None` when the store holds no key for that owner.
    fn signer(&self, owner: &str) -> Result<Option<Box<dyn Signer>>, CryptoError>;

    /// Stores `key_pem` (an unencrypted PEM private key) with `certificate` for `owner`,
    /// replacing any key the owner had. Fails with [`CryptoError::KeyCertificateMismatch`] when
    /// the key does not belong to the certificate (checked with
    /// [`CryptoProvider::load_signer`]) and with [`CryptoError::InvalidKeyOwner`] for a bad name.
    fn put(
        &self,
        owner: &str,
        key_pem: &[u8],
        certificate: &Certificate,
    ) -> Result<(), CryptoError>;

    /// Deletes `owner`'s key; `true` when there was one.
    fn remove(&self, owner: &str) -> Result<bool, CryptoError>;

    /// Every key in the store, sorted by owner.
    fn list(&self) -> Result<Vec<KeyEntry>, CryptoError>;
}

/// Checks an owner name: 1 to 100 ASCII letters, digits, `_` or `-` (so never a path).
fn check_owner(owner: &str) -> Result<(), CryptoError> {
    let ok = !owner.is_empty()
        && owner.len() <= MAX_OWNER_LEN
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CryptoError::InvalidKeyOwner(owner.to_owned()))
    }
}

fn is_gost_key(key: KeyAlgorithm) -> bool {
    matches!(
        key,
        KeyAlgorithm::Gost2012_256 | KeyAlgorithm::Gost2012_512 | KeyAlgorithm::Gost2001
    )
}

/// OpenSSL parses a GOST private key only once the GOST engine is loaded.
fn engine_for(certificate: &Certificate) -> Result<(), CryptoError> {
    if is_gost_key(certificate.key_algorithm()) {
        gost_engine_status()?;
    }
    Ok(())
}

fn store_err(what: &str, path: &Path, e: &io::Error) -> CryptoError {
    CryptoError::KeyStore(format!("{what} {}: {e}", path.display()))
}

/// A [`KeyStore`] in one directory: per owner `<owner>.key.pem` (PKCS#8, encrypted with
/// AES-256-CBC under the store passphrase, mode 0600) and `<owner>.cert.pem`.
///
/// Files are written atomically (temporary file, fsync, rename, fsync of the directory). The
/// passphrase is checked lazily: [`FileKeyStore::open`] reads no key, a wrong passphrase shows up
/// as [`CryptoError::KeyDecryption`] naming the owner when that owner's signer is asked for.
/// Works for GOST R 34.10-2012/2001 keys (through the OpenSSL GOST engine), ECDSA and RSA.
pub struct FileKeyStore {
    dir: PathBuf,
    passphrase: Vec<u8>,
    provider: Arc<dyn CryptoProvider>,
    /// Serialises this process's reads and writes, so a signer never sees half of a `put`.
    lock: Mutex<()>,
    /// Signers already loaded, by owner, with the stamps of the two files they came from: a
    /// signer is decrypted once, and again only when its files change (a `put`, or another
    /// process writing the directory). Decrypting and parsing a key costs milliseconds; looking
    /// at the two files' metadata, microseconds.
    loaded: Mutex<std::collections::HashMap<String, Loaded>>,
}

/// A loaded signer and the stamps of its key and certificate files.
struct Loaded {
    stamps: (FileStamp, FileStamp),
    signer: Arc<dyn Signer>,
}

/// What identifies a version of a file: size, modification time, inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

/// A signer shared by the calls that use one loaded key.
#[derive(Debug)]
struct SharedSigner(Arc<dyn Signer>);

impl Signer for SharedSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }

    fn certificate(&self) -> &Certificate {
        self.0.certificate()
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.0.sign(data)
    }

    fn sign_cms_detached(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.0.sign_cms_detached(data)
    }
}

impl std::fmt::Debug for FileKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeyStore")
            .field("dir", &self.dir)
            .field("passphrase", &"<hidden>")
            .field("provider", &self.provider)
            .finish()
    }
}

impl Drop for FileKeyStore {
    fn drop(&mut self) {
        for b in self.passphrase.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference into the vector.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl FileKeyStore {
    /// Opens (creating it with mode 0700 when missing) the key directory `dir`. The passphrase
    /// encrypts every key written and decrypts every key read; it must not be empty.
    pub fn open(
        dir: impl AsRef<Path>,
        passphrase: &[u8],
        provider: Arc<dyn CryptoProvider>,
    ) -> Result<FileKeyStore, CryptoError> {
        let dir = dir.as_ref().to_path_buf();
        if passphrase.is_empty() {
            return Err(CryptoError::KeyStore(
                "the key store passphrase must not be empty".into(),
            ));
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| store_err("cannot create the key directory", &dir, &e))?;
        if !dir.is_dir() {
            return Err(CryptoError::KeyStore(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        Ok(FileKeyStore {
            dir,
            passphrase: passphrase.to_vec(),
            provider,
            lock: Mutex::new(()),
            loaded: Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key_path(&self, owner: &str) -> PathBuf {
        self.dir.join(format!("{owner}{KEY_SUFFIX}"))
    }

    fn cert_path(&self, owner: &str) -> PathBuf {
        self.dir.join(format!("{owner}{CERT_SUFFIX}"))
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded data is `()`: a panic elsewhere cannot leave it inconsistent.
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads a file; `None` when it does not exist.
    fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, CryptoError> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(store_err("cannot read", path, &e)),
        }
    }

    fn read_certificate(&self, owner: &str) -> Result<Option<Certificate>, CryptoError> {
        let path = self.cert_path(owner);
        let Some(pem) = Self::read_optional(&path)? else {
            return Ok(None);
        };
        Certificate::from_pem(&pem).map(Some).map_err(|e| {
            CryptoError::KeyStore(format!(
                "the certificate of {owner} ({}): {e}",
                path.display()
            ))
        })
    }

    /// Writes `data` to `path` atomically: a temporary file in the same directory (mode 0600),
    /// fsync, rename over `path`, fsync of the directory.
    fn write_atomically(&self, path: &Path, data: &[u8]) -> Result<(), CryptoError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let tmp = self.dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| -> io::Result<()> {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(data)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(store_err("cannot write", path, &e));
        }
        self.sync_dir()
    }

    fn sync_dir(&self) -> Result<(), CryptoError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| store_err("cannot sync the key directory", &self.dir, &e))
    }
}

impl FileKeyStore {
    fn loaded(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Loaded>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stamps of `owner`'s two files, when both exist.
    fn stamps(&self, owner: &str) -> Option<(FileStamp, FileStamp)> {
        Some((
            FileStamp::of(&self.key_path(owner))?,
            FileStamp::of(&self.cert_path(owner))?,
        ))
    }

    /// Reads, decrypts and loads `owner`'s key (the caller holds the lock).
    fn load(&self, owner: &str) -> Result<Option<Box<dyn Signer>>, CryptoError> {
        let key_path = self.key_path(owner);
        let Some(encrypted) = Self::read_optional(&key_path)? else {
            return Ok(None);
        };
        let certificate = self.read_certificate(owner)?.ok_or_else(|| {
            CryptoError::KeyStore(format!(
                "the key of {owner} has no certificate ({} is missing)",
                self.cert_path(owner).display()
            ))
        })?;
        if !encrypted
            .windows(b"ENCRYPTED PRIVATE KEY".len())
            .any(|w| w == b"ENCRYPTED PRIVATE KEY")
        {
            return Err(CryptoError::KeyStore(format!(
                "the key file of {owner} ({}) is not an encrypted PKCS#8 key",
                key_path.display()
            )));
        }
        engine_for(&certificate)?;
        let key =
            PKey::private_key_from_pem_passphrase(&encrypted, &self.passphrase).map_err(|_| {
                CryptoError::KeyDecryption {
                    owner: owner.to_owned(),
                }
            })?;
        // The provider API takes unencrypted PKCS#8; it stays in memory only.
        let plain = key.private_key_to_pem_pkcs8()?;
        self.provider.load_signer(&plain, certificate).map(Some)
    }
}

impl KeyStore for FileKeyStore {
    fn signer(&self, owner: &str) -> Result<Option<Box<dyn Signer>>, CryptoError> {
        check_owner(owner)?;
        let _guard = self.guard();
        let stamps = self.stamps(owner);
        if let Some(stamps) = stamps
            && let Some(loaded) = self.loaded().get(owner)
            && loaded.stamps == stamps
        {
            return Ok(Some(Box::new(SharedSigner(Arc::clone(&loaded.signer)))));
        }
        self.loaded().remove(owner);
        let Some(signer) = self.load(owner)? else {
            return Ok(None);
        };
        let signer: Arc<dyn Signer> = Arc::from(signer);
        // Remembered only when the files did not change while they were read.
        if let Some(stamps) = stamps
            && self.stamps(owner) == Some(stamps)
        {
            self.loaded().insert(
                owner.to_owned(),
                Loaded {
                    stamps,
                    signer: Arc::clone(&signer),
                },
            );
        }
        Ok(Some(Box::new(SharedSigner(signer))))
    }

    fn put(
        &self,
        owner: &str,
        key_pem: &[u8],
        certificate: &Certificate,
    ) -> Result<(), CryptoError> {
        check_owner(owner)?;
        // Refuses a key that is not the certificate's (and any key the provider cannot use).
        self.provider.load_signer(key_pem, certificate.clone())?;
        engine_for(certificate)?;
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|e| CryptoError::InvalidKey(format!("unreadable PEM private key: {e}")))?;
        let encrypted =
            key.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), &self.passphrase)?;
        let _guard = self.guard();
        self.loaded().remove(owner);
        self.write_atomically(&self.cert_path(owner), certificate.to_pem().as_bytes())?;
        self.write_atomically(&self.key_path(owner), &encrypted)
    }

    fn remove(&self, owner: &str) -> Result<bool, CryptoError> {
        check_owner(owner)?;
        let _guard = self.guard();
        self.loaded().remove(owner);
        let mut existed = false;
        for path in [self.key_path(owner), self.cert_path(owner)] {
            match fs::remove_file(&path) {
                Ok(()) => existed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(store_err("cannot remove", &path, &e)),
            }
        }
        if existed {
            self.sync_dir()?;
        }
        Ok(existed)
    }

    fn list(&self) -> Result<Vec<KeyEntry>, CryptoError> {
        let _guard = self.guard();
        let entries =
            fs::read_dir(&self.dir).map_err(|e| store_err("cannot list", &self.dir, &e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| store_err("cannot list", &self.dir, &e))?;
            let name = entry.file_name();
            let Some(owner) = name.to_str().and_then(|n| n.strip_suffix(KEY_SUFFIX)) else {
                continue;
            };
            if check_owner(owner).is_err() {
                continue;
            }
            let certificate = self.read_certificate(owner)?.ok_or_else(|| {
                CryptoError::KeyStore(format!("the key of {owner} has no certificate"))
            })?;
            out.push(KeyEntry {
                owner: owner.to_owned(),
                thumbprint_sha1: certificate.thumbprint_sha1().to_owned(),
                subject: certificate.subject().to_string(),
                not_after: certificate.not_after(),
            });
        }
        out.sort_by(|a, b| a.owner.cmp(&b.owner));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::check_owner;

    #[test]
    fn owner_names() {
        for ok in ["IS_1", "mnemonic-2", "A", &"x".repeat(100)] {
            check_owner(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            ".",
            "..",
            ".hidden",
            "a b",
            "имя",
            "a\0b",
            &"x".repeat(101),
        ] {
            assert!(check_owner(bad).is_err(), "{bad:?} accepted");
        }
    }
}
