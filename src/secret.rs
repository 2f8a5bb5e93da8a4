//! Secrets in memory (`Secret<T>`, which never prints or serializes its value)
//! and at rest (`Cipher`, AES-256-GCM with a key from config or from a file
//! generated once into `data_dir` with mode 0600).
//!
//! Sealed text is `v1:` + base64(nonce ‖ ciphertext ‖ tag), so a future key or
//! algorithm change can be told apart from today's format.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// What every API shows in place of a secret value.
pub const REDACTED: &str = "***";

/// A value that must never reach a log line or an API response.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself; call sites are the places a secret leaves its box.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Self)
    }
}

impl Secret<String> {
    /// Whether no secret is set (an empty value means "off" in the config).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Serializes a secret as `***`, or as `""` when none is set, so a printed
/// configuration tells "set" from "unset" and never shows the value
/// (`#[serde(serialize_with = "…")]` on config fields).
pub fn redacted_unless_empty<S: Serializer>(
    secret: &Secret<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(if secret.is_empty() { "" } else { REDACTED })
}

/// A URL that may carry a password (`redis://:pw@host`,
/// `postgres://user:pw@host/db`): it prints, serializes and debugs with the
/// password replaced by `***`; [`expose`](Self::expose) gives the real one
/// to the code that connects.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretUrl(Secret<String>);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(Secret::new(url.into()))
    }

    /// The URL with its password, for connecting.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// Whether the URL is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URL with any password replaced by `***`, for printing.
    pub fn redacted(&self) -> String {
        redact_url(self.expose())
    }
}

/// A URL with any password replaced by `***`, for printing.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some(REDACTED));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// Fills a buffer from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::internal("the system random generator failed"))?;
    Ok(buf)
}

/// Lower-case hex SHA-256 of some bytes (API keys are stored only this way).
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Encrypts and decrypts secrets stored in the catalog.
#[derive(Clone)]
pub struct Cipher {
    key: Arc<LessSafeKey>,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(***)")
    }
}

const SEALED_PREFIX: &str = "v1:";
const KEY_FILE: &str = "secret.key";

impl Cipher {
    /// A cipher over 32 raw key bytes.
    pub fn from_key(key: &[u8; 32]) -> Result<Self, Error> {
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| Error::internal("AES-256-GCM key rejected"))?;
        Ok(Self {
            key: Arc::new(LessSafeKey::new(unbound)),
        })
    }

    /// The key from `secrets.encryption_key` (base64 of 32 bytes) when set,
    /// otherwise from `data_dir/secret.key`, created with mode 0600 on first use.
    pub fn load(configured: &str, data_dir: &Path) -> anyhow::Result<Self> {
        let key = if configured.is_empty() {
            load_or_create_key_file(&data_dir.join(KEY_FILE))?
        } else {
            decode_key(configured).map_err(|e| anyhow::anyhow!("secrets.encryption_key: {e}"))?
        };
        Ok(Self::from_key(&key)?)
    }

    /// Encrypts `plain` into sealed text.
    pub fn seal(&self, plain: &str) -> Result<String, Error> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut buf = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::empty(),
                &mut buf,
            )
            .map_err(|_| Error::internal("encryption failed"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    /// Decrypts sealed text; a wrong key or tampered text is an internal error.
    pub fn open(&self, sealed: &str) -> Result<String, Error> {
        let fail = || Error::internal("a stored secret could not be decrypted (wrong key?)");
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() >= NONCE_LEN)
            .ok_or_else(fail)?;
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut body)
            .map_err(|_| fail())?;
        String::from_utf8(plain.to_vec()).map_err(|_| fail())
    }
}

/// A 32-byte key for `purpose`, derived (HMAC-SHA256) from the same key
/// material [`Cipher::load`] uses, so it is stable across restarts and
/// replicas that share that key, yet never equals the encryption key.
pub fn derive_key(configured: &str, data_dir: &Path, purpose: &str) -> anyhow::Result<[u8; 32]> {
    let master = if configured.is_empty() {
        load_or_create_key_file(&data_dir.join(KEY_FILE))?
    } else {
        decode_key(configured).map_err(|e| anyhow::anyhow!("secrets.encryption_key: {e}"))?
    };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &master);
    let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    Ok(out)
}

/// Decodes a configured key: base64 (standard or URL-safe) of exactly 32 bytes.
fn decode_key(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| "must be base64".to_owned())?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("must decode to 32 bytes, got {}", b.len()))
}

fn load_or_create_key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode_key(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = random_bytes::<32>()?;
            write_private_file(path, &STANDARD.encode(key))?;
            tracing::info!(path = %path.display(), "generated a new secrets encryption key");
            Ok(key)
        }
        Err(err) => Err(anyhow::anyhow!("reading {}: {err}", path.display())),
    }
}

/// Creates `path` (and its folder) readable by the owner only; fails if it exists.
pub fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_to_the_original_and_hides_it() -> Result<(), Error> {
        let cipher = Cipher::from_key(&[7u8; 32])?;
        let sealed = cipher.seal("Bearer hunter2")?;
        assert!(!sealed.contains("hunter2"));
        assert_ne!(sealed, cipher.seal("Bearer hunter2")?, "nonces must differ");
        assert_eq!(cipher.open(&sealed)?, "Bearer hunter2");
        Ok(())
    }

    #[test]
    fn a_different_key_or_tampering_cannot_open_sealed_text() -> Result<(), Error> {
        let sealed = Cipher::from_key(&[1u8; 32])?.seal("x")?;
        assert!(Cipher::from_key(&[2u8; 32])?.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(Cipher::from_key(&[1u8; 32])?.open(&tampered).is_err());
        assert!(Cipher::from_key(&[1u8; 32])?.open("garbage").is_err());
        Ok(())
    }

    #[test]
    fn secrets_never_print_or_serialize_their_value() {
        let s = Secret::new("token".to_owned());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(serde_json::to_string(&s).ok().as_deref(), Some("\"***\""));
    }

    #[test]
    fn the_key_file_is_created_once_with_owner_only_permissions() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let a = Cipher::load("", dir.path())?.seal("v")?;
        let b = Cipher::load("", dir.path())?;
        assert_eq!(b.open(&a)?, "v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        Ok(())
    }
}
