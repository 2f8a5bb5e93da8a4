//! What one document may cost, and what its errors may echo.
//!
//! - **Complexity** (checked before anything runs): every field costs 1
//!   plus what it selects, and a list multiplies what it selects by its
//!   size — the page size for connections (`first`/`last`, 50 when absent),
//!   an estimate for lists without one (`tools`: [`TOOLS_ESTIMATE`],
//!   a category's `servers`: [`SERVERS_ESTIMATE`]). A document over
//!   [`MAX_COMPLEXITY`] is refused with `query_too_complex`.
//! - **Response size**: the estimate can be beaten (a server may list
//!   thousands of tools), so the bytes are counted while fields resolve;
//!   past [`MAX_RESPONSE_BYTES`] the rest is skipped and the answer is one
//!   `response_too_large` error.
//! - **Echo**: parse and validation errors carry `invalid_document` (or
//!   `query_too_complex`), and no error message is longer than
//!   [`MAX_ERROR_MESSAGE_CHARS`], so a 1 MB document cannot come back as a
//!   2 MB error.
//!
//! Like [`super::nullability`], the response budget is active only while a
//! query or mutation executes: subscription events pass through.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    ErrorExtensionValues, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use crate::error::ErrorCode;

/// The most a document may cost (see the module's doc): about as many
/// values as fit in [`MAX_RESPONSE_BYTES`] at ~150 bytes each.
pub const MAX_COMPLEXITY: usize = 50_000;
/// What `tools` multiplies its selection by: a typical server lists 5-100.
pub const TOOLS_ESTIMATE: usize = 100;
/// What a category's `servers` multiplies its selection by (a default page).
pub const SERVERS_ESTIMATE: usize = 50;
/// The largest response a document may produce, in bytes of JSON: room
/// for every tool, with schemas, of a few servers of thousands of tools.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;
/// The longest error message answered; longer ones are cut with `…`.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 300;

/// The cost of a connection field: its selection times its page size.
pub(crate) fn page_cost(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let size = first
        .or(last)
        .map_or(crate::catalog::service::DEFAULT_LIMIT as usize, |n| {
            n.clamp(1, crate::catalog::service::MAX_LIMIT as i32) as usize
        });
    1usize.saturating_add(size.saturating_mul(child))
}

/// Installs [`Limits`] on a schema.
pub(crate) struct DocumentLimits;

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Limits::default())
    }
}

/// One request's response budget.
#[derive(Default)]
struct Limits {
    executing: AtomicBool,
    used: AtomicUsize,
    exceeded: AtomicBool,
}

/// Sets `extensions.code` of an error the engine made.
fn with_code(mut err: ServerError, code: ErrorCode) -> ServerError {
    err.extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", code.as_str());
    err
}

/// `message` cut to [`MAX_ERROR_MESSAGE_CHARS`] characters.
fn trimmed(message: &mut String) {
    if let Some((at, _)) = message.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        message.truncate(at);
        message.push('…');
    }
}

/// The one error of a response that outgrew [`MAX_RESPONSE_BYTES`].
pub(crate) fn response_too_large() -> Response {
    Response::from_errors(vec![with_code(
        ServerError::new(
            format!(
                "the response would be larger than {} MiB; ask for fewer fields or smaller pages",
                MAX_RESPONSE_BYTES >> 20
            ),
            None,
        ),
        ErrorCode::ResponseTooLarge,
    )])
}

/// The bytes of a JSON string with `len` bytes of text (escapes included).
fn string_size(s: &str) -> usize {
    s.len()
        + 2
        + s.bytes()
            .map(|b| match b {
                b'"' | b'\\' => 1,
                0..0x20 => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// What `value` adds to the response beyond what its own fields counted:
/// all of a scalar, the punctuation of objects and lists.
fn own_size(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Boolean(_) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => string_size(s),
        Value::Enum(name) => string_size(name.as_str()),
        Value::Binary(b) => b.len() * 2,
        Value::List(items) => 2 + items.len() + items.iter().map(own_size).sum::<usize>(),
        Value::Object(_) => 2,
    }
}

#[async_trait::async_trait]
impl Extension for Limits {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for err in &mut response.errors {
            trimmed(&mut err.message);
        }
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|err| with_code(err, ErrorCode::InvalidDocument))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|err| {
                    let code = if err.message.starts_with("Query is too complex")
                        || err.message.starts_with("Query is nested too deep")
                    {
                        ErrorCode::QueryTooComplex
                    } else {
                        ErrorCode::InvalidDocument
                    };
                    with_code(err, code)
                })
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        self.executing.store(true, Ordering::SeqCst);
        let response = next.run(ctx, operation_name).await;
        self.executing.store(false, Ordering::SeqCst);
        if self.exceeded.load(Ordering::SeqCst) {
            return response_too_large();
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if !self.executing.load(Ordering::SeqCst) {
            return next.run(ctx, info).await;
        }
        if self.exceeded.load(Ordering::Relaxed) {
            // The answer is an error anyway: skip the work.
            return Ok(Some(Value::Null));
        }
        let key = info.alias.unwrap_or(info.name).len() + 4;
        let result = next.run(ctx, info).await;
        if let Ok(Some(value)) = &result {
            let size = key + own_size(value);
            if self.used.fetch_add(size, Ordering::Relaxed) + size > MAX_RESPONSE_BYTES {
                self.exceeded.store(true, Ordering::SeqCst);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let mut short = "short".to_owned();
        trimmed(&mut short);
        assert_eq!(short, "short");
        let mut long = "é".repeat(1000);
        trimmed(&mut long);
        assert_eq!(long.chars().count(), MAX_ERROR_MESSAGE_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn sizes_count_json_escapes_and_punctuation() {
        assert_eq!(string_size("ab"), 4);
        assert_eq!(string_size("a\"b"), 6);
        assert_eq!(string_size("\n"), 8);
        let list = Value::List(vec![Value::from("a"), Value::from(true)]);
        assert_eq!(own_size(&list), 2 + 2 + 3 + 5);
        assert_eq!(page_cost(None, None, 3), 151);
        assert_eq!(page_cost(Some(200), None, 3), 601);
        assert_eq!(page_cost(None, Some(5000), 1), 201);
    }
}
