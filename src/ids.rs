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

/// `size` random bytes for nanoid, from AWS-LC's per-thread generator.
/// nanoid's own default seeds a new generator from the kernel for every
/// id: a `getrandom` system call on each request (ids of requests and of
/// audit events). This one draws the same quality of randomness without
/// the call, and falls back to nanoid's if AWS-LC ever refuses.
pub fn random_bytes(size: usize) -> Vec<u8> {
    use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
    let mut bytes = vec![0; size];
    match SystemRandom::new().fill(&mut bytes) {
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
