//! Server drafts: a patch applied over the stored server (secrets sent
//! back as `***` keep their stored values) and the validation that turns a
//! draft into a server record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::catalog::input::{NewServer, ServerPatch};
use crate::catalog::model::{SecretMap, Server, ServerName, Transport};
use crate::catalog::validate;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{CategoryId, ServerId};
use crate::secret::{REDACTED, Secret};

fn exposed(map: &SecretMap) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.expose().clone()))
        .collect()
}

/// Replaces a secret map, keeping the stored value where the caller sent `***`.
fn merge_secrets(
    field: &'static str,
    current: &SecretMap,
    new: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    new.into_iter()
        .map(|(k, v)| {
            if v == REDACTED {
                match current.get(&k) {
                    Some(old) => Ok((k, old.expose().clone())),
                    None => Err(Error::invalid(
                        ErrorCode::InvalidSecret,
                        field,
                        format!("`{k}` is `***` but has no stored value to keep"),
                    )),
                }
            } else {
                Ok((k, v))
            }
        })
        .collect()
}

pub(super) fn apply_patch(current: &Server, patch: ServerPatch) -> Result<NewServer> {
    Ok(NewServer {
        name: patch
            .name
            .unwrap_or_else(|| current.name.as_str().to_owned()),
        title: Some(patch.title.unwrap_or_else(|| current.title.clone())),
        description: Some(
            patch
                .description
                .unwrap_or_else(|| current.description.clone()),
        ),
        transport: patch
            .transport
            .unwrap_or_else(|| current.transport.as_str().to_owned()),
        url: patch.url.unwrap_or_else(|| current.url.clone()),
        query_params: patch
            .query_params
            .unwrap_or_else(|| current.query_params.clone()),
        headers: match patch.headers {
            Some(h) => merge_secrets("headers", &current.headers, h)?,
            None => exposed(&current.headers),
        },
        command: patch.command.unwrap_or_else(|| current.command.clone()),
        args: patch.args.unwrap_or_else(|| current.args.clone()),
        env: match patch.env {
            Some(e) => merge_secrets("env", &current.env, e)?,
            None => exposed(&current.env),
        },
        cwd: patch.cwd.unwrap_or_else(|| current.cwd.clone()),
        requires_oauth2: patch.requires_oauth2.unwrap_or(current.requires_oauth2),
        is_public: patch.is_public.unwrap_or(current.is_public),
        category_id: patch
            .category_id
            .unwrap_or_else(|| current.category_id.as_ref().map(|c| c.as_str().to_owned())),
        enabled: Some(patch.enabled.unwrap_or(current.enabled)),
        fail_closed: patch.fail_closed.unwrap_or(current.fail_closed),
        tool_filter: patch
            .tool_filter
            .unwrap_or_else(|| current.tool_filter.clone()),
        oauth_client_id: patch
            .oauth_client_id
            .unwrap_or_else(|| current.oauth_client_id.clone()),
        oauth_client_secret: match patch.oauth_client_secret {
            Some(Some(v)) if v == "***" => match &current.oauth_client_secret {
                Some(old) => Some(old.expose().clone()),
                None => {
                    return Err(Error::invalid(
                        ErrorCode::InvalidSecret,
                        "oauth_client_secret",
                        "`***` keeps a stored secret, but there is none",
                    ));
                }
            },
            Some(other) => other,
            None => current
                .oauth_client_secret
                .as_ref()
                .map(|s| s.expose().clone()),
        },
        oauth_scopes: patch
            .oauth_scopes
            .unwrap_or_else(|| current.oauth_scopes.clone()),
    })
}

fn not_for(transport: Transport, field: &'static str) -> Error {
    Error::invalid(
        ErrorCode::FieldNotAllowed,
        field,
        format!("`{field}` does not apply to {transport} servers"),
    )
}

/// Validates a whole draft into a server record.
pub(super) fn build_server(
    draft: NewServer,
    id: ServerId,
    owner: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<Server> {
    let name = ServerName::parse(draft.name.trim())?;
    let transport = Transport::parse(draft.transport.trim())?;
    let title = validate::text("title", draft.title.as_deref(), validate::MAX_TITLE)?;
    let title = if title.is_empty() {
        name.as_str().to_owned()
    } else {
        title
    };
    let description = validate::text(
        "description",
        draft.description.as_deref(),
        validate::MAX_DESCRIPTION,
    )?;
    let url = draft
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let command = draft
        .command
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let cwd = draft
        .cwd
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let (url, command, cwd) = if transport == Transport::Stdio {
        if url.is_some() {
            return Err(not_for(transport, "url"));
        }
        if !draft.query_params.is_empty() {
            return Err(not_for(transport, "query_params"));
        }
        if !draft.headers.is_empty() {
            return Err(not_for(transport, "headers"));
        }
        if draft.requires_oauth2 {
            return Err(not_for(transport, "requires_oauth2"));
        }
        let command = command.ok_or_else(|| {
            Error::invalid(
                ErrorCode::MissingCommand,
                "command",
                "a stdio server needs a `command`",
            )
        })?;
        validate::args(&draft.args)?;
        validate::env(draft.env.iter().map(|(k, v)| (k, v.as_str())))?;
        (
            None,
            Some(validate::command(command)?),
            cwd.map(validate::cwd).transpose()?,
        )
    } else {
        if command.is_some() {
            return Err(not_for(transport, "command"));
        }
        if !draft.args.is_empty() {
            return Err(not_for(transport, "args"));
        }
        if !draft.env.is_empty() {
            return Err(not_for(transport, "env"));
        }
        if cwd.is_some() {
            return Err(not_for(transport, "cwd"));
        }
        let url = url.ok_or_else(|| {
            Error::invalid(
                ErrorCode::MissingUrl,
                "url",
                format!("a {transport} server needs a `url`"),
            )
        })?;
        validate::query_params(&draft.query_params)?;
        validate::headers(draft.headers.iter().map(|(k, v)| (k, v.as_str())))?;
        (Some(validate::upstream_url(transport, url)?), None, None)
    };
    let category_id = draft
        .category_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|raw| {
            CategoryId::parse(raw).map_err(|_| {
                Error::invalid(
                    ErrorCode::CategoryNotFound,
                    "category_id",
                    format!("no category `{raw}`"),
                )
            })
        })
        .transpose()?;
    let (oauth_client_id, oauth_client_secret, oauth_scopes) = validate::oauth_client(
        draft.requires_oauth2,
        draft.oauth_client_id,
        draft.oauth_client_secret,
        draft.oauth_scopes,
    )?;
    let secrets =
        |m: BTreeMap<String, String>| m.into_iter().map(|(k, v)| (k, Secret::new(v))).collect();
    Ok(Server {
        id,
        name,
        title,
        description,
        transport,
        url,
        query_params: draft.query_params,
        headers: secrets(draft.headers),
        command,
        args: draft.args,
        env: secrets(draft.env),
        cwd,
        requires_oauth2: draft.requires_oauth2,
        is_public: draft.is_public,
        owner,
        category_id,
        enabled: draft.enabled.unwrap_or(true),
        fail_closed: draft.fail_closed,
        tool_filter: draft.tool_filter.validated_at("tool_filter")?,
        oauth_client_id,
        oauth_client_secret: oauth_client_secret.map(Secret::new),
        oauth_scopes,
        created_at,
        updated_at,
    })
}
