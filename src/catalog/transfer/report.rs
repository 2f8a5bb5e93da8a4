//! What an import answers: per entry, the name it gets, whether it is (or
//! would be) created, why not, and what the caller should know.

use serde::Serialize;

use crate::catalog::model::{Server, Transport};
use crate::error::{Error, ErrorCode};

/// The answer of an import, previewed or done.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// One per entry of the document, in its order (`mcpServers` by name).
    pub servers: Vec<ImportEntry>,
    /// How many servers were created (0 for a preview).
    pub created: usize,
}

/// What happens (or happened) to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportAction {
    /// The server is (or would be) created.
    Create,
    /// The server is not created; `error` says why.
    Error,
}

/// One entry of an import.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportEntry {
    /// The server name it gets (the source name when none could be made).
    pub name: String,
    /// Its name in the document.
    pub source_name: String,
    /// `null` when the entry's transport could not be told.
    pub transport: Option<Transport>,
    pub action: ImportAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EntryError>,
    /// Renames, ignored fields, a category that does not exist here.
    pub warnings: Vec<String>,
    /// The created server (as `GET /api/v1/servers/{id}` shows it); only
    /// once created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Server>,
}

/// Why an entry is not created, as an API error says it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntryError {
    /// A stable error code (`forbidden`, `server_name_taken`, `invalid_url`, …).
    #[schema(value_type = String)]
    pub code: ErrorCode,
    pub message: String,
    /// The entry's field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl From<&Error> for EntryError {
    fn from(err: &Error) -> Self {
        Self {
            code: err.code(),
            message: err.public_message(),
            field: err.field().map(str::to_owned),
        }
    }
}

impl ImportReport {
    /// How many entries cannot be created.
    pub fn rejected(&self) -> usize {
        self.servers
            .iter()
            .filter(|e| e.action == ImportAction::Error)
            .count()
    }
}
