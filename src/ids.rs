//! Prefixed random identifiers (`ctg_…`, `mcp_…`, `key_…`, `tls_…`), Stripe style.
//!
//! An id is built only by `generate` or `parse`, so a value of one of these
//! types always has the right prefix and alphabet.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, ErrorCode};

/// Lower-case letters and digits: ids read well in URLs and logs.
const ALPHABET: [char; 36] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
    'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',
];
/// 36^16 ≈ 8·10^24 values: collisions are not a practical concern.
const RANDOM_LEN: usize = 16;

/// `prefix` followed by 16 random characters of the id
/// alphabet: the shape of every prefixed id, typed or not (audit events).
pub fn random_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        nanoid::nanoid!(RANDOM_LEN, &ALPHABET, random_bytes)
    )
}

/// `size` random bytes for ids (nanoid's source of randomness, request
/// ids), from AWS-LC's generator, drawn a kilobyte at a time per thread:
/// two or three ids are made per proxied call, and each draw of AWS-LC
/// costs more than the bytes it gives. nanoid's own default seeds a new
/// generator from the kernel for every id (a `getrandom` system call);
/// this falls back to it only if AWS-LC ever refuses. Only ids come from
/// here, never secrets (those are `secret::random_bytes`), and the gateway
/// never forks, so bytes drawn ahead are never handed out twice.
pub fn random_bytes(size: usize) -> Vec<u8> {
    use std::cell::RefCell;
    thread_local! {
        static DRAWN: RefCell<Ahead> = const { RefCell::new(Ahead { bytes: [0; AHEAD], used: AHEAD }) };
    }
    if size > AHEAD {
        return draw(size);
    }
    DRAWN.with_borrow_mut(|ahead| {
        if ahead.used + size > AHEAD {
            if fill(&mut ahead.bytes).is_err() {
                return nanoid::rngs::default(size);
            }
            ahead.used = 0;
        }
        let bytes = ahead.bytes[ahead.used..ahead.used + size].to_vec();
        ahead.used += size;
        bytes
    })
}

/// How many random bytes a thread draws ahead.
const AHEAD: usize = 1024;

/// Random bytes drawn ahead, of which `used` are handed out.
struct Ahead {
    bytes: [u8; AHEAD],
    used: usize,
}

fn fill(bytes: &mut [u8]) -> Result<(), aws_lc_rs::error::Unspecified> {
    use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
    SystemRandom::new().fill(bytes)
}

/// `size` random bytes drawn at once.
fn draw(size: usize) -> Vec<u8> {
    let mut bytes = vec![0; size];
    match fill(&mut bytes) {
        Ok(()) => bytes,
        Err(_) => nanoid::rngs::default(size),
    }
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $code:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(random_id($prefix))
            }

            /// Accepts only `PREFIX` followed by 16 characters of the id alphabet.
            pub fn parse(raw: &str) -> Result<Self, Error> {
                let ok = raw
                    .strip_prefix($prefix)
                    .is_some_and(|rest| {
                        rest.len() == RANDOM_LEN && rest.chars().all(|c| ALPHABET.contains(&c))
                    });
                if ok {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(Error::invalid(
                        ErrorCode::$code,
                        "id",
                        format!("`{raw}` is not a valid id (expected {}…)", $prefix),
                    ))
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(de)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A category id: `ctg_` + 16 random characters.
    CategoryId,
    "ctg_",
    InvalidCategoryId
);
prefixed_id!(
    /// A catalog server id: `mcp_` + 16 random characters.
    ServerId,
    "mcp_",
    InvalidServerId
);
prefixed_id!(
    /// An API key's public id (not the secret): `key_` + 16 random characters.
    ApiKeyId,
    "key_",
    InvalidApiKeyId
);
prefixed_id!(
    /// A toolset id: `tls_` + 16 random characters.
    ToolsetId,
    "tls_",
    InvalidToolsetId
);

/// The isolation unit for connection state (by default the principal's id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// Longest accepted session id.
    pub const MAX_LEN: usize = 200;

    /// Accepts 1-200 printable ASCII characters other than space, `*`, `?`,
    /// `[`, `]`, `{`, `}` and `\` (so an id can never act as a SCAN pattern or
    /// a Redis Cluster hash tag).
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"*?[]{}\\".contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(
                ErrorCode::InvalidSessionId,
                "session",
                "a session id is 1-200 printable characters without spaces or *?[]{}\\",
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_parse_back_and_carry_their_prefix() {
        let id = CategoryId::generate();
        assert!(id.as_str().starts_with("ctg_"));
        assert_eq!(CategoryId::parse(id.as_str()).ok(), Some(id));
        assert!(ServerId::parse(CategoryId::generate().as_str()).is_err());
    }

    #[test]
    fn random_bytes_drawn_ahead_are_never_handed_out_twice() {
        // Enough draws of nanoid's size to refill the thread's bytes many
        // times, and one larger than what is drawn ahead.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let bytes = random_bytes(45);
            assert_eq!(bytes.len(), 45);
            assert!(seen.insert(bytes), "the same bytes twice");
        }
        assert_eq!(random_bytes(AHEAD + 1).len(), AHEAD + 1);
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| random_id("x_")).collect();
        assert_eq!(ids.len(), 1000);
    }

    proptest! {
        #[test]
        fn parse_accepts_exactly_prefix_plus_sixteen_id_chars(s in "\\PC{0,40}") {
            let ok = ServerId::parse(&s).is_ok();
            let expected = s.strip_prefix("mcp_").is_some_and(|r| {
                r.len() == 16 && r.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
            });
            prop_assert_eq!(ok, expected);
        }
    }
}
