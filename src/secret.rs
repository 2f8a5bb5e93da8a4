//! Secrets in memory (`Secret<T>`, which never prints or serializes its value)
//! and at rest (`Cipher`, AES-256-GCM with a key from config or from a file
//! generated once into `data_dir` with mode 0600).
//!
//! Sealed text is `v1:` + base64(nonce ‖ ciphertext ‖ tag), so a future key or
//! algorithm change can be told apart from today's format.
//!
//! `secrets.encryption_key` may list several keys, comma-separated: the first
//! seals, every one opens. That is how replicas keep reading while
//! `manifold secrets rotate` moves the catalog from one key to another (see
//! `docs/deployment.md`). The catalog keeps a key check, a constant sealed
//! with its key ([`Cipher::seal_key_check`]), so a process holding another
//! key is told at start-up instead of failing on every secret.

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
    /// The first key seals; every key opens.
    keys: Arc<[Arc<LessSafeKey>]>,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(***)")
    }
}

const SEALED_PREFIX: &str = "v1:";
/// The key file inside `data_dir`, used when `secrets.encryption_key` is empty.
pub const KEY_FILE: &str = "secret.key";
/// What the key check seals: a constant, so it tells only whether a key fits.
const KEY_CHECK_PLAIN: &str = "manifold secrets key check v1";

impl Cipher {
    /// A cipher over 32 raw key bytes.
    pub fn from_key(key: &[u8; 32]) -> Result<Self, Error> {
        Self::from_keys(std::slice::from_ref(key))
    }

    /// A cipher that seals with the first key and opens with any of them.
    pub fn from_keys(keys: &[[u8; 32]]) -> Result<Self, Error> {
        if keys.is_empty() {
            return Err(Error::internal("a cipher needs at least one key"));
        }
        let keys = keys
            .iter()
            .map(|key| {
                UnboundKey::new(&AES_256_GCM, key)
                    .map(|unbound| Arc::new(LessSafeKey::new(unbound)))
                    .map_err(|_| Error::internal("AES-256-GCM key rejected"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys: keys.into() })
    }

    /// The keys from `secrets.encryption_key` (base64 of 32 bytes, or several
    /// such keys separated by commas) when set, otherwise from
    /// `data_dir/secret.key`, created with mode 0600 on first use.
    pub fn load(configured: &str, data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self::from_keys(&load_keys(configured, data_dir)?)?)
    }

    /// A cipher that seals with this one's sealing key and opens with this
    /// one's keys, then `other`'s: a rotation from `other` to `self`.
    pub fn also_opening(&self, other: &Cipher) -> Cipher {
        let keys: Vec<_> = self.keys.iter().chain(other.keys.iter()).cloned().collect();
        Self { keys: keys.into() }
    }

    /// The key check to store in the catalog: a constant sealed with the
    /// sealing key (never the key itself).
    pub fn seal_key_check(&self) -> Result<String, Error> {
        self.seal(KEY_CHECK_PLAIN)
    }

    /// Whether one of this cipher's keys opens a stored key check.
    pub fn opens_key_check(&self, sealed: &str) -> bool {
        self.open(sealed)
            .is_ok_and(|plain| plain == KEY_CHECK_PLAIN)
    }

    /// Encrypts `plain` into sealed text with the first key.
    pub fn seal(&self, plain: &str) -> Result<String, Error> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut buf = plain.as_bytes().to_vec();
        self.keys[0]
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

    /// Decrypts sealed text with whichever key opens it; a wrong key or
    /// tampered text is an internal error.
    pub fn open(&self, sealed: &str) -> Result<String, Error> {
        let fail = || Error::internal("a stored secret could not be decrypted (wrong key?)");
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() >= NONCE_LEN)
            .ok_or_else(fail)?;
        let (nonce, body) = raw.split_at(NONCE_LEN);
        for key in self.keys.iter() {
            let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
            let mut body = body.to_vec();
            if let Ok(plain) = key.open_in_place(nonce, Aad::empty(), &mut body) {
                return String::from_utf8(plain.to_vec()).map_err(|_| fail());
            }
        }
        Err(fail())
    }
}

/// A 32-byte key for `purpose`, derived (HMAC-SHA256) from the sealing key
/// [`Cipher::load`] uses, so it is stable across restarts and replicas that
/// share that key, yet never equals the encryption key.
pub fn derive_key(configured: &str, data_dir: &Path, purpose: &str) -> anyhow::Result<[u8; 32]> {
    let master = load_keys(configured, data_dir)?[0];
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &master);
    let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    Ok(out)
}

/// Where the keys of a process come from, for messages:
/// `secrets.encryption_key` or the key file.
pub fn describe_key_source(configured: &str, data_dir: &Path) -> String {
    if configured.is_empty() {
        format!("the key in {}", data_dir.join(KEY_FILE).display())
    } else {
        "the configured secrets.encryption_key".to_owned()
    }
}

/// The configured keys (at least one), or those of the key file (created
/// with one new key when absent).
fn load_keys(configured: &str, data_dir: &Path) -> anyhow::Result<Vec<[u8; 32]>> {
    if configured.is_empty() {
        load_or_create_key_file(&data_dir.join(KEY_FILE))
    } else {
        decode_key_list(configured).map_err(|e| anyhow::anyhow!("secrets.encryption_key: {e}"))
    }
}

/// Decodes one key as `decode_key` does, for `secrets rotate --new-key`.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    decode_key(text)
}

/// A key as configuration holds it: standard base64.
pub fn encode_key(key: &[u8; 32]) -> String {
    STANDARD.encode(key)
}

/// Decodes `KEY[,KEY…]`: one or more keys separated by commas (base64 has
/// no comma), the first being the sealing key.
fn decode_key_list(text: &str) -> Result<Vec<[u8; 32]>, String> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() == 1 {
        return decode_key(text).map(|key| vec![key]);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            decode_key(part).map_err(|e| format!("key {} of {}: {e}", i + 1, parts.len()))
        })
        .collect()
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

fn load_or_create_key_file(path: &Path) -> anyhow::Result<Vec<[u8; 32]>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            decode_key_list(text.trim()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = random_bytes::<32>()?;
            write_private_file(path, &STANDARD.encode(key))?;
            tracing::info!(path = %path.display(), "generated a new secrets encryption key");
            Ok(vec![key])
        }
        Err(err) => Err(anyhow::anyhow!("reading {}: {err}", path.display())),
    }
}

/// Replaces `data_dir/secret.key` with `key` (mode 0600) in one rename, so
/// the file holds the old key or the new one, never a half-written one.
pub fn replace_key_file(data_dir: &Path, key: &[u8; 32]) -> anyhow::Result<std::path::PathBuf> {
    let path = data_dir.join(KEY_FILE);
    let staged = data_dir.join(format!("{KEY_FILE}.new"));
    match std::fs::remove_file(&staged) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow::anyhow!("removing {}: {e}", staged.display())),
    }
    write_private_file(&staged, &encode_key(key))?;
    std::fs::rename(&staged, &path)
        .map_err(|e| anyhow::anyhow!("replacing {}: {e}", path.display()))?;
    Ok(path)
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
    fn a_key_list_seals_with_its_first_key_and_opens_with_any() -> anyhow::Result<()> {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let list = format!("{}, {}", encode_key(&new), encode_key(&old));
        let dir = tempfile::tempdir()?;
        let both = Cipher::load(&list, dir.path())?;
        let by_old = Cipher::from_key(&old)?.seal("a")?;
        assert_eq!(both.open(&by_old)?, "a");
        assert_eq!(Cipher::from_key(&new)?.open(&both.seal("b")?)?, "b");
        assert!(Cipher::from_key(&old)?.open(&both.seal("b")?).is_err());
        assert!(
            !dir.path().join(KEY_FILE).exists(),
            "a configured key writes no file"
        );
        let err = Cipher::load(&format!("{},short", encode_key(&new)), dir.path())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("secrets.encryption_key: key 2 of 2: must be base64")
        );
        Ok(())
    }

    #[test]
    fn the_key_check_opens_only_with_a_key_that_sealed_it() -> Result<(), Error> {
        let old = Cipher::from_key(&[1u8; 32])?;
        let new = Cipher::from_key(&[2u8; 32])?;
        let check = old.seal_key_check()?;
        assert!(old.opens_key_check(&check));
        assert!(!new.opens_key_check(&check));
        assert!(new.also_opening(&old).opens_key_check(&check));
        // A rotation cipher seals with the new key.
        assert!(new.opens_key_check(&new.also_opening(&old).seal_key_check()?));
        // Some other sealed value is not a key check.
        assert!(!old.opens_key_check(&old.seal("not the constant")?));
        Ok(())
    }

    #[test]
    fn the_key_file_is_replaced_whole() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let first = Cipher::load("", dir.path())?;
        let sealed = first.seal("v")?;
        replace_key_file(dir.path(), &[9u8; 32])?;
        let second = Cipher::load("", dir.path())?;
        assert!(second.open(&sealed).is_err());
        assert_eq!(Cipher::from_key(&[9u8; 32])?.open(&second.seal("w")?)?, "w");
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
