//! Choosing which tools a model sees: a server's `tool_filter` (its owner's
//! or an admin's), a session's own filter, and tool search.

mod search;
mod server_filter;
mod session_filter;
mod toolsets;
