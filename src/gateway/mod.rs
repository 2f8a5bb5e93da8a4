//! What Manifold does to upstream tools before clients see them.
//!
//! [`namespace`] names tools `{server}__{tool}` within function-calling
//! limits, reversibly; [`schema_patch`] makes every input schema one that OpenAI-style function
//! calling accepts (the seed's `patch_tools_schema`).

pub mod endpoint;
pub mod handler;
pub mod namespace;
pub mod schema_patch;
