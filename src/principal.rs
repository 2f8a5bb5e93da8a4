//! Who is calling, as every layer sees it: the [`Principal`] of a request,
//! its [`Role`] and the [`Credential`] it proved itself with. The `auth`
//! module builds principals; everything else only reads them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::ids::{ApiKeyId, SessionId};

/// Every anonymous session id starts with this.
pub const ANONYMOUS_PREFIX: &str = "anon_";

/// What a principal may do beyond its own things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Categories, public servers, stdio servers, everyone's data.
    Admin,
    /// Their own private network servers; public servers read-only.
    User,
    /// No credentials (anonymous sessions): public servers only, read-only;
    /// may connect them and use `/mcp`. Never stored on an API key.
    Anonymous,
}

impl Role {
    /// `admin` or `user`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
            Self::Anonymous => "anonymous",
        }
    }

    /// Parses `admin` or `user`.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "admin" => Ok(Self::Admin),
            "user" => Ok(Self::User),
            other => Err(Error::invalid(
                ErrorCode::InvalidRole,
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
    /// An API key (`mfk_…`).
    ApiKey { key_id: ApiKeyId },
    /// A verified JWT (the token itself is not kept).
    Jwt { issuer: Option<String> },
    /// No credentials: an anonymous session.
    Anonymous,
    /// Back from an upstream's authorization server: the OAuth `state` the
    /// principal's own earlier request created proves who it is.
    OAuthState,
}

impl Credential {
    /// `api_key`, `jwt` or `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ApiKey { .. } => "api_key",
            Self::Jwt { .. } => "jwt",
            Self::Anonymous => "anonymous",
            Self::OAuthState => "oauth_state",
        }
    }
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

    /// Whether the principal is an anonymous session.
    pub fn is_anonymous(&self) -> bool {
        self.role == Role::Anonymous
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

/// Checks a user id: 1-200 printable characters without spaces, not
/// starting with `anon_` (that prefix belongs to anonymous sessions).
pub fn parse_user_id(raw: &str) -> Result<String, Error> {
    let invalid = || {
        Error::invalid(
            ErrorCode::InvalidUserId,
            "user",
            "a user id is 1-200 printable characters without spaces or *?[]{}\\, not starting with anon_",
        )
    };
    if raw.starts_with(ANONYMOUS_PREFIX) {
        return Err(invalid());
    }
    SessionId::parse(raw)
        .map(|s| s.as_str().to_owned())
        .map_err(|_| invalid())
}
