//! Placeholder until the sse transport lands.

use rmcp::service::{RoleClient, RunningService};

use crate::error::Error;
use crate::upstream::{LinkOptions, Target, UpstreamClient};

/// Connects and runs the MCP handshake.
pub(crate) async fn open(
    target: &Target,
    _options: &LinkOptions,
    _client: UpstreamClient,
) -> Result<(RunningService<RoleClient, UpstreamClient>, Option<u32>), Error> {
    Err(Error::Upstream {
        code: "transport_unsupported",
        message: format!(
            "{}: the sse transport is not available in this build",
            target.name
        ),
    })
}
