//! Import and export of servers ([`crate::catalog::transfer`] reads and
//! writes the documents): every entry goes through the same draft
//! validation and rights as `create_server` (stdio and public servers are
//! the admins'), names taken are refused, and an import is all or nothing
//! as far as validation can tell. Should a creation still fail half-way
//! (another request took a name meanwhile), the answer says exactly which
//! servers exist.

use std::collections::BTreeMap;

use crate::catalog::input::NewServer;
use crate::catalog::model::{Server, ServerName, Transport};
use crate::catalog::transfer::{
    EntryError, ExportDocument, ExportFormat, FORMAT_VERSION, FormatHeader, ImportAction,
    ImportDocument, ImportEntry, ImportItem, ImportReport, ManifoldExport, McpServersExport,
    manifold_export, mcp_export, read_document,
};
use crate::catalog::{CategoryQuery, ServerQuery};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{CategoryId, ServerId};
use crate::principal::Principal;

use super::draft::build_server;
use super::servers::check_server_rights;
use super::{CatalogService, MAX_LIMIT, now};

/// Why an import created nothing, or not everything: the error to answer
/// with and, once the document was read, the per-entry report.
#[derive(Debug)]
pub struct ImportFailure {
    pub error: Error,
    pub report: Option<ImportReport>,
}

impl From<Error> for ImportFailure {
    fn from(error: Error) -> Self {
        Self {
            error,
            report: None,
        }
    }
}

/// An entry after every check: its draft, or why it cannot be created.
struct Checked {
    source_name: String,
    name: String,
    transport: Option<Transport>,
    warnings: Vec<String>,
    draft: Result<NewServer>,
}

fn entry(checked: &Checked, action: ImportAction, error: Option<&Error>) -> ImportEntry {
    ImportEntry {
        name: checked.name.clone(),
        source_name: checked.source_name.clone(),
        transport: checked.transport,
        action,
        error: error.map(EntryError::from),
        warnings: checked.warnings.clone(),
        server: None,
    }
}

fn report_of(checked: &[Checked]) -> ImportReport {
    let servers = checked
        .iter()
        .map(|c| match &c.draft {
            Ok(_) => entry(c, ImportAction::Create, None),
            Err(err) => entry(c, ImportAction::Error, Some(err)),
        })
        .collect();
    ImportReport {
        servers,
        created: 0,
    }
}

impl CatalogService {
    /// What importing `doc` would create, and why not where not; creates
    /// nothing.
    #[tracing::instrument(skip_all, fields(user = %principal.user_id))]
    pub async fn preview_import(
        &self,
        principal: &Principal,
        doc: ImportDocument,
    ) -> Result<ImportReport> {
        let checked = self.check_import(principal, doc).await?;
        Ok(report_of(&checked))
    }

    /// Creates every server of `doc`, or none when one of them cannot be
    /// created (`invalid_import`, with the report).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id))]
    pub async fn import_servers(
        &self,
        principal: &Principal,
        doc: ImportDocument,
    ) -> std::result::Result<ImportReport, ImportFailure> {
        let checked = self.check_import(principal, doc).await?;
        let mut report = report_of(&checked);
        let rejected = report.rejected();
        if rejected > 0 {
            let error = Error::Invalid {
                code: ErrorCode::InvalidImport,
                field: None,
                message: format!(
                    "{rejected} of {} servers cannot be imported (see `servers`); nothing was created",
                    report.servers.len()
                ),
            };
            return Err(ImportFailure {
                error,
                report: Some(report),
            });
        }
        let total = checked.len();
        for (i, c) in checked.into_iter().enumerate() {
            let draft = match c.draft {
                Ok(draft) => draft,
                Err(_) => continue,
            };
            match self.create_server(principal, draft).await {
                Ok(server) => {
                    report.servers[i].server = Some(server);
                    report.created += 1;
                }
                Err(err) => {
                    tracing::warn!(server = %c.name, error = %err, created = report.created,
                        "import stopped half-way");
                    let stopped_at = c.name.clone();
                    report.servers[i].action = ImportAction::Error;
                    report.servers[i].error = Some(EntryError::from(&err));
                    for later in report.servers.iter_mut().skip(i + 1) {
                        later.action = ImportAction::Error;
                        later.error = Some(EntryError {
                            code: ErrorCode::ImportIncomplete,
                            message: format!("not created: the import stopped at `{stopped_at}`"),
                            field: None,
                        });
                    }
                    let error = Error::Conflict {
                        code: ErrorCode::ImportIncomplete,
                        field: None,
                        message: format!(
                            "created {} of {total} servers, then `{stopped_at}` failed: {}",
                            report.created,
                            err.public_message()
                        ),
                    };
                    return Err(ImportFailure {
                        error,
                        report: Some(report),
                    });
                }
            }
        }
        tracing::info!(created = report.created, "servers imported");
        Ok(report)
    }

    /// Reads `doc` and checks every entry as `create_server` would, plus
    /// the names already taken and the categories named.
    async fn check_import(
        &self,
        principal: &Principal,
        doc: ImportDocument,
    ) -> Result<Vec<Checked>> {
        if principal.is_anonymous() {
            return Err(Error::Forbidden(
                "anonymous callers may not import servers".into(),
            ));
        }
        let items = read_document(doc)?;
        let categories = if items.iter().any(|i| i.category.is_some()) {
            self.category_ids_by_name().await?
        } else {
            BTreeMap::new()
        };
        let mut checked = Vec::with_capacity(items.len());
        for item in items {
            let ImportItem {
                source_name,
                name,
                transport,
                draft,
                category,
                mut warnings,
            } = item;
            let draft = match draft {
                Ok(mut draft) => {
                    if let Some(category) = &category {
                        match categories.get(&category.to_lowercase()) {
                            Some(id) => draft.category_id = Some(id.clone()),
                            None => warnings.push(format!(
                                "there is no category `{category}` here: imported without a category"
                            )),
                        }
                    }
                    self.check_draft(principal, draft).await
                }
                Err(err) => Err(err),
            };
            checked.push(Checked {
                source_name,
                name,
                transport,
                warnings,
                draft,
            });
        }
        Ok(checked)
    }

    /// `create_server`'s checks without the insert, and the name's owner.
    async fn check_draft(&self, principal: &Principal, draft: NewServer) -> Result<NewServer> {
        let at = now();
        let server = build_server(
            draft.clone(),
            ServerId::generate(),
            principal.user_id.clone(),
            at,
            at,
        )?;
        check_server_rights(principal, &server)?;
        if self.store.get_server_by_name(&server.name).await?.is_some() {
            return Err(name_taken(&server.name));
        }
        if let Some(id) = &server.category_id
            && self.store.get_category(id).await?.is_none()
        {
            return Err(Error::invalid(
                ErrorCode::CategoryNotFound,
                "category_id",
                format!("no category `{id}`"),
            ));
        }
        Ok(draft)
    }

    /// Every category's id by its lower-cased name.
    async fn category_ids_by_name(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .all_categories()
            .await?
            .into_iter()
            .map(|(id, name)| (name.to_lowercase(), id))
            .collect())
    }

    /// Every category as (id, name).
    async fn all_categories(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_categories(&CategoryQuery {
                    search: None,
                    after: after.clone(),
                    limit: MAX_LIMIT,
                })
                .await?;
            let full = page.len() >= MAX_LIMIT as usize;
            after = page.last().map(|c| c.name.to_lowercase());
            out.extend(page.into_iter().map(|c| (c.id.as_str().to_owned(), c.name)));
            if !full {
                return Ok(out);
            }
        }
    }

    /// Every server the principal may see (public and their own; admins
    /// all), by name.
    async fn all_visible_servers(&self, principal: &Principal) -> Result<Vec<Server>> {
        let visible_to = (!principal.is_admin()).then(|| principal.user_id.clone());
        let mut out: Vec<Server> = Vec::new();
        loop {
            let page = self
                .store
                .list_servers(&ServerQuery {
                    visible_to: visible_to.clone(),
                    category_id: None::<CategoryId>,
                    after: out.last().map(|s| s.name.as_str().to_owned()),
                    limit: MAX_LIMIT,
                })
                .await?;
            let full = page.len() >= MAX_LIMIT as usize;
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }

    /// The servers the principal may see as a document in `format`, every
    /// secret value as `***`.
    #[tracing::instrument(skip_all, fields(user = %principal.user_id))]
    pub async fn export_servers(
        &self,
        principal: &Principal,
        format: ExportFormat,
    ) -> Result<ExportDocument> {
        let servers = self.all_visible_servers(principal).await?;
        Ok(match format {
            ExportFormat::McpServers => ExportDocument::McpServers(McpServersExport {
                mcp_servers: servers
                    .iter()
                    .map(|s| (s.name.as_str().to_owned(), mcp_export(s)))
                    .collect(),
            }),
            ExportFormat::Manifold => {
                let categories: BTreeMap<String, String> =
                    self.all_categories().await?.into_iter().collect();
                ExportDocument::Manifold(ManifoldExport {
                    manifold: FormatHeader {
                        version: FORMAT_VERSION,
                    },
                    servers: servers
                        .iter()
                        .map(|s| manifold_export(s, &categories))
                        .collect(),
                })
            }
        })
    }
}

fn name_taken(name: &ServerName) -> Error {
    Error::conflict(
        ErrorCode::ServerNameTaken,
        "name",
        format!("a server named `{name}` exists already"),
    )
}
