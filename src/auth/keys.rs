//! Who may list, create and revoke which API keys over the API (REST
//! `/api/v1/keys`, GraphQL `apiKeys`, `createApiKey`, `revokeApiKey`):
//!
//! - admins: every user's keys, with either role;
//! - users: only their own keys, only with the `user` role; a key of
//!   another user is `api_key_not_found` to them, exactly as an absent one,
//!   so key ids do not leak;
//! - anonymous sessions: nothing (403 `forbidden`).
//!
//! A user holds at most [`MAX_ACTIVE_KEYS`] active keys (409
//! `too_many_api_keys`), so no one fills the table. The secret of a new key
//! is returned once, by [`ApiKeys::create_for`], and never stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::api_key::{ApiKeys, key_not_found};
use crate::catalog::audit::{self, AuditEvent};
use crate::catalog::{ApiKey, ApiKeyQuery};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::ApiKeyId;
use crate::principal::{Principal, Role};
use crate::secret::Secret;

/// Most active (not revoked) keys one user may hold.
pub const MAX_ACTIVE_KEYS: u64 = 50;
/// Longest key label, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Default page size of key lists.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size of key lists.
pub const MAX_LIMIT: u32 = 200;

/// A key list request, as the caller sent it.
#[derive(Debug, Clone, Default)]
pub struct KeyListParams {
    /// Only this user's keys (admins; a user may name only themself).
    pub user: Option<String>,
    /// List revoked keys too.
    pub include_revoked: bool,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A new key as the caller asks for it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A label, 1-64 printable characters.
    #[schema(min_length = 1, max_length = 64, example = "laptop")]
    pub name: Option<String>,
    /// Whose key it is (default: the caller; another user: admins only).
    pub user_id: Option<String>,
    /// `admin` or `user` (default `user`; `admin`: admins only).
    #[schema(example = "user")]
    pub role: Option<String>,
}

/// One page of keys, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyPage {
    pub items: Vec<ApiKey>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Checks a key label: 1-64 characters, none of them a control character,
/// not only spaces; surrounding spaces are dropped.
pub fn parse_key_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            ErrorCode::InvalidKeyName,
            "name",
            format!("a key name is 1-{MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

fn may_manage_keys(principal: &Principal) -> Result<()> {
    if principal.is_anonymous() {
        return Err(Error::Forbidden(
            "anonymous sessions have no API keys; authenticate first".into(),
        ));
    }
    Ok(())
}

fn encode_cursor(key: &ApiKey) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", key.created_at.to_rfc3339(), key.id))
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, ApiKeyId)> {
    let invalid = || Error::BadRequest {
        code: ErrorCode::InvalidCursor,
        message: "the cursor is not one this API returned".into(),
    };
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (at, id) = raw.split_once('|').ok_or_else(invalid)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| invalid())?;
    let id = ApiKeyId::parse(id).map_err(|_| invalid())?;
    Ok((at.with_timezone(&Utc), id))
}

impl ApiKeys {
    /// The keys `principal` may see, newest first: admins everyone's (or
    /// `params.user`'s), users their own.
    pub async fn list_for(&self, principal: &Principal, params: &KeyListParams) -> Result<KeyPage> {
        may_manage_keys(principal)?;
        let user_id = match params.user.as_deref() {
            _ if !principal.is_admin() => {
                if params
                    .user
                    .as_ref()
                    .is_some_and(|u| *u != principal.user_id)
                {
                    return Err(Error::Forbidden(
                        "only admins may list other users' keys".into(),
                    ));
                }
                Some(principal.user_id.clone())
            }
            Some(user) => Some(crate::principal::parse_user_id(user)?),
            None => None,
        };
        let limit = match params.limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                return Err(Error::invalid(
                    ErrorCode::InvalidLimit,
                    "limit",
                    format!("limit is between 1 and {MAX_LIMIT}"),
                ));
            }
        };
        // An empty cursor (a well-formed one) starts at the beginning.
        let after = params
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(decode_cursor)
            .transpose()?;
        let mut items = self
            .store
            .page_api_keys(&ApiKeyQuery {
                user_id,
                include_revoked: params.include_revoked,
                after,
                limit: limit + 1,
            })
            .await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(encode_cursor)
        } else {
            None
        };
        Ok(KeyPage { items, next_cursor })
    }

    /// Creates a key as `principal` asks: for themself with the `user`
    /// role, or (admins) for anyone with either role. The secret is
    /// returned once.
    pub async fn create_for(
        &self,
        principal: &Principal,
        input: NewKey,
    ) -> Result<(ApiKey, Secret<String>)> {
        may_manage_keys(principal)?;
        let role = match input.role.as_deref() {
            None => Role::User,
            Some(raw) => Role::parse(raw)?,
        };
        let user_id = match input.user_id.as_deref() {
            None => principal.user_id.clone(),
            Some(raw) => crate::principal::parse_user_id(raw)?,
        };
        if !principal.is_admin() {
            if user_id != principal.user_id {
                return Err(Error::Forbidden(
                    "only admins may create keys for other users".into(),
                ));
            }
            if role != Role::User {
                return Err(Error::Forbidden("only admins may create admin keys".into()));
            }
        }
        let name = input.name.as_deref().map(parse_key_name).transpose()?;
        // Two creates racing past this count may leave one key over the
        // bound; it only bounds growth, it is not a quota.
        if self.store.count_active_api_keys_of(&user_id).await? >= MAX_ACTIVE_KEYS {
            return Err(Error::conflict(
                ErrorCode::TooManyApiKeys,
                "user_id",
                format!(
                    "`{user_id}` holds {MAX_ACTIVE_KEYS} active API keys, the most allowed; \
                     revoke one first"
                ),
            ));
        }
        let created = self.create_named(&user_id, role, name.as_deref()).await?;
        self.audited(principal, &created.0, "api_key created");
        tracing::debug!(key = %created.0.id, by = %principal.user_id, "API key created over the API");
        Ok(created)
    }

    /// Revokes key `id` as `principal`: any key for admins, their own for
    /// users; `api_key_not_found` when it is absent, already revoked or
    /// (to a user) another user's.
    pub async fn revoke_for(&self, principal: &Principal, id: &str) -> Result<()> {
        may_manage_keys(principal)?;
        let id = ApiKeyId::parse(id).map_err(|_| key_not_found())?;
        let key = self
            .store
            .get_api_key(&id)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .filter(|k| principal.is_admin() || k.user_id == principal.user_id)
            .ok_or_else(key_not_found)?;
        self.revoke_id(&key.id).await?;
        self.audited(principal, &key, "api_key revoked");
        tracing::debug!(key = %key.id, user = %key.user_id, by = %principal.user_id, "API key revoked over the API");
        Ok(())
    }
}

impl ApiKeys {
    /// Records a change `principal` made to `key` in the audit trail (a
    /// `catalog_change` naming the key, never its secret).
    fn audited(&self, principal: &Principal, key: &ApiKey, what: &str) {
        if !self.audit.enabled() {
            return;
        }
        let mut event = AuditEvent::new(audit::kind::CATALOG_CHANGE, principal, "api");
        event.target = Some(key.id.to_string());
        event.detail = Some(format!("{what} for {}", key.user_id));
        self.audit.record(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_short_printable_labels() {
        assert_eq!(parse_key_name("  laptop  ").ok().as_deref(), Some("laptop"));
        assert_eq!(
            parse_key_name("CI — déploiement 🚀").ok().as_deref(),
            Some("CI — déploiement 🚀")
        );
        for bad in ["", "   ", "tab\there", "line\nbreak", &"x".repeat(65)] {
            let err = parse_key_name(bad).expect_err(bad);
            assert_eq!(err.code(), ErrorCode::InvalidKeyName, "{bad:?}");
        }
        assert!(
            parse_key_name(&"é".repeat(64)).is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn a_cursor_reads_back_and_a_foreign_one_is_refused() {
        let key = ApiKey {
            id: ApiKeyId::generate(),
            name: None,
            user_id: "alice".into(),
            role: Role::User,
            hash: String::new(),
            prefix: "mfk_abcdef".into(),
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        };
        let (at, id) = decode_cursor(&encode_cursor(&key)).expect("reads back");
        assert_eq!((at, id), (key.created_at, key.id));
        for bad in ["!!", "bm9waXBl", ""] {
            assert_eq!(
                decode_cursor(bad).map(|_| ()).map_err(|e| e.code()),
                Err(ErrorCode::InvalidCursor),
                "{bad}"
            );
        }
    }
}
