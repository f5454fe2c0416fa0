//! What a client may be granted: scopes (RFC 6749 §3.3) and audiences (RFC 8707 §2).
//! Pure functions of the client and the request.

use super::IssueError;
use crate::clients::Client;
use crate::oauth::is_resource_uri;

/// The scope tokens of a `scope` parameter (RFC 6749 §3.3), duplicates dropped.
pub(super) fn scope_tokens(requested: &str) -> Result<Vec<&str>, IssueError> {
    crate::oauth::scope_tokens(requested).map_err(|bad| IssueError::InvalidScope {
        reason: "not a valid scope token (RFC 6749 section 3.3)",
        scope: Some(bad.to_owned()),
    })
}

/// RFC 6749 §3.3: every requested scope must be allowed; none requested → the defaults.
pub(super) fn granted_scope(client: &Client, requested: Option<&str>) -> Result<String, IssueError> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(client.default_scope.clone());
    };
    let tokens = scope_tokens(requested)?;
    if let Some(denied) = tokens.iter().find(|t| !client.allows_scope(t)) {
        return Err(IssueError::InvalidScope {
            reason: "scope not allowed for this client",
            scope: Some((*denied).to_owned()),
        });
    }
    Ok(tokens.join(" "))
}

/// RFC 8707 §2: each requested resource must be one of the client's audiences; none
/// requested → the client's default audience. A `resource` must also be an absolute URI
/// without a fragment; an `audience` (the Keycloak/Auth0 alias) may name any configured
/// audience. Resources come first, then audiences, duplicates dropped.
pub(super) fn granted_audiences<'a>(
    client: &'a Client,
    resources: &[&'a str],
    audiences: &[&'a str],
) -> Result<Vec<&'a str>, IssueError> {
    if resources.is_empty() && audiences.is_empty() {
        return Ok(vec![client.default_audience()]);
    }
    let mut granted: Vec<&str> = Vec::with_capacity(resources.len() + audiences.len());
    for r in resources {
        if !client.allows_resource(r) {
            let reason = if is_resource_uri(r) {
                "resource not allowed for this client"
            } else {
                "a resource must be an absolute URI without a fragment (RFC 8707 section 2)"
            };
            return Err(IssueError::InvalidTarget { reason, resource: (*r).to_owned() });
        }
        if !granted.contains(r) {
            granted.push(r);
        }
    }
    for a in audiences {
        if !client.allows_audience(a) {
            let reason = "audience not allowed for this client";
            return Err(IssueError::InvalidTarget { reason, resource: (*a).to_owned() });
        }
        if !granted.contains(a) {
            granted.push(a);
        }
    }
    Ok(granted)
}
