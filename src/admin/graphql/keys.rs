//! API keys in GraphQL: the `ApiKey` type, and what the query and mutation
//! roots' `apiKeys`, `createApiKey` and `revokeApiKey` do (the same
//! service calls as REST `/api/v1/keys`, with the same rules: admins
//! manage anyone's keys, users their own with the `user` role).

use async_graphql::{Context, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use crate::admin::graphql::error::GqlResult;
use crate::admin::graphql::{app, principal};
use crate::auth::keys::{KeyListParams, NewKey};

/// An API key; its secret is never shown but once, by `createApiKey`.
#[derive(SimpleObject)]
pub(crate) struct ApiKey {
    pub id: ID,
    /// The label its owner gave it, if any.
    pub name: Option<String>,
    /// The user the key authenticates as.
    pub user_id: String,
    /// `admin` or `user`.
    pub role: String,
    /// The key's first characters (`mfk_AbCdEf`), to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// When the key was last used (written at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<crate::catalog::ApiKey> for ApiKey {
    fn from(k: crate::catalog::ApiKey) -> Self {
        Self {
            id: ID(k.id.to_string()),
            name: k.name,
            user_id: k.user_id,
            role: k.role.as_str().to_owned(),
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just created: its fields and, this once, the key itself.
#[derive(SimpleObject)]
pub(crate) struct CreatedApiKey {
    #[graphql(flatten)]
    pub api_key: ApiKey,
    /// The key (`mfk_…`) to send as `Authorization: Bearer`. Shown only
    /// in this answer: store it now.
    pub key: String,
}

/// A page of API keys, newest first.
#[derive(SimpleObject)]
pub(crate) struct ApiKeyPage {
    pub items: Vec<ApiKey>,
    /// Pass as `after` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A new API key: by default the caller's own with the `user` role.
#[derive(InputObject)]
pub(crate) struct CreateApiKeyInput {
    /// A label, 1-64 printable characters.
    pub name: Option<String>,
    /// Whose key it is (another user: admins only).
    pub user_id: Option<String>,
    /// `admin` or `user` (`admin`: admins only).
    pub role: Option<String>,
}

/// `apiKeys`: the keys the caller may see.
pub(crate) async fn list(
    ctx: &Context<'_>,
    user: Option<String>,
    include_revoked: Option<bool>,
    first: Option<u32>,
    after: Option<String>,
) -> async_graphql::Result<ApiKeyPage> {
    let (app, principal) = (app(ctx)?, principal(ctx)?);
    let params = KeyListParams {
        user,
        include_revoked: include_revoked.unwrap_or(false),
        limit: first,
        cursor: after,
    };
    let page = app.api_keys().list_for(principal, &params).await.gql()?;
    Ok(ApiKeyPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    })
}

/// `createApiKey`: the new key with its secret.
pub(crate) async fn create(
    ctx: &Context<'_>,
    input: CreateApiKeyInput,
) -> async_graphql::Result<CreatedApiKey> {
    let (app, principal) = (app(ctx)?, principal(ctx)?);
    let new = NewKey {
        name: input.name,
        user_id: input.user_id,
        role: input.role,
    };
    let (k, secret) = app.api_keys().create_for(principal, new).await.gql()?;
    Ok(CreatedApiKey {
        api_key: k.into(),
        key: secret.expose().clone(),
    })
}

/// `revokeApiKey`: true once revoked.
pub(crate) async fn revoke(ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
    let (app, principal) = (app(ctx)?, principal(ctx)?);
    app.api_keys().revoke_for(principal, &id).await.gql()?;
    Ok(true)
}
