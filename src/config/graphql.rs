//! The `[graphql]` settings: whether `GET /graphql` serves the GraphiQL page.

use std::fmt;
use std::net::SocketAddr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The GraphQL admin API at `/graphql`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlSettings {
    /// `auto` (on only when listening on loopback), `true` or `false`.
    pub playground: Playground,
}

/// Whether the GraphiQL page is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Playground {
    /// On when `listen` is a loopback address, off otherwise.
    #[default]
    Auto,
    On,
    Off,
}

impl GraphqlSettings {
    /// Whether `GET /graphql` serves GraphiQL for a server bound to `listen`.
    pub fn playground_enabled(&self, listen: SocketAddr) -> bool {
        match self.playground {
            Playground::Auto => listen.ip().is_loopback(),
            Playground::On => true,
            Playground::Off => false,
        }
    }
}

impl Serialize for Playground {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::On => s.serialize_bool(true),
            Self::Off => s.serialize_bool(false),
        }
    }
}

/// Accepts `true`/`false` (TOML booleans, or the text an environment
/// variable carries) and `"auto"`.
impl<'de> Deserialize<'de> for Playground {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PlaygroundVisitor;
        impl Visitor<'_> for PlaygroundVisitor {
            type Value = Playground;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or \"auto\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Playground, E> {
                Ok(if v { Playground::On } else { Playground::Off })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Playground, E> {
                match v {
                    "auto" => Ok(Playground::Auto),
                    "true" => Ok(Playground::On),
                    "false" => Ok(Playground::Off),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(PlaygroundVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_serves_the_playground_only_on_loopback() {
        let auto = GraphqlSettings::default();
        assert!(auto.playground_enabled("127.0.0.1:8080".parse().unwrap()));
        assert!(auto.playground_enabled("[::1]:8080".parse().unwrap()));
        assert!(!auto.playground_enabled("0.0.0.0:8080".parse().unwrap()));
        assert!(!auto.playground_enabled("10.1.2.3:8080".parse().unwrap()));
        let on = GraphqlSettings {
            playground: Playground::On,
        };
        assert!(on.playground_enabled("0.0.0.0:8080".parse().unwrap()));
        let off = GraphqlSettings {
            playground: Playground::Off,
        };
        assert!(!off.playground_enabled("127.0.0.1:8080".parse().unwrap()));
    }

    #[test]
    fn playground_reads_booleans_and_auto_from_files_and_the_environment() {
        for (text, want) in [
            ("playground = true", Playground::On),
            ("playground = false", Playground::Off),
            ("playground = \"auto\"", Playground::Auto),
        ] {
            let parsed: GraphqlSettings = toml::from_str(text).unwrap();
            assert_eq!(parsed.playground, want, "{text}");
        }
        assert!(toml::from_str::<GraphqlSettings>("playground = \"yes\"").is_err());
        let env = [(
            "MANIFOLD_GRAPHQL__PLAYGROUND".to_owned(),
            "false".to_owned(),
        )];
        let settings = crate::Settings::load_from(None, env).unwrap();
        assert_eq!(settings.graphql.playground, Playground::Off);
    }
}
