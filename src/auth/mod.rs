//! Who is calling: the [`Principal`] on every request, built by the axum
//! extractor in [`extract`] from an API key (this module's [`api_key`]).
//! JWT and anonymous sessions plug into the same extractor later.

pub mod api_key;
pub mod extract;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ids::ApiKeyId;
use crate::session::SessionId;

/// What a principal may do beyond its own things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Categories, public servers, stdio servers, everyone's data.
    Admin,
    /// Their own private network servers; public servers read-only.
    User,
}

impl Role {
    /// `admin` or `user`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }

    /// Parses `admin` or `user`.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "admin" => Ok(Self::Admin),
            "user" => Ok(Self::User),
            other => Err(Error::invalid(
                "invalid_role",
                "role",
                format!("`{other}` is not a role (admin, user)"),
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    ApiKey { key_id: ApiKeyId },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
    /// Connection-state session (the user id, for API keys).
    pub session: SessionId,
    pub credential: Credential,
}

impl Principal {
    /// Whether the principal has the admin role.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Fails with 403 unless the principal is an admin.
    pub fn require_admin(&self, action: &str) -> Result<(), Error> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("only admins may {action}")))
        }
    }
}

/// Checks a user id: 1-200 printable characters without spaces.
pub fn parse_user_id(raw: &str) -> Result<String, Error> {
    SessionId::parse(raw)
        .map(|s| s.as_str().to_owned())
        .map_err(|_| {
            Error::invalid(
                "invalid_user_id",
                "user",
                "a user id is 1-200 printable characters without spaces or *?[]{}\\",
            )
        })
}
