//! A resource server that accepts tokenmint access tokens, verified offline.
//!
//! ```sh
//! cargo run --release -- serve &                      # the token service, demo config
//! cargo run --example resource_server -- http://127.0.0.1:8080 https://api.example.com
//! TOKEN=$(curl -s -u demo:demo-secret -d grant_type=client_credentials \
//!   http://127.0.0.1:8080/oauth2/token | jq -r .access_token)
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/reports   # needs demo:read
//! ```
//!
//! The verifier discovers the JWKS from the issuer's metadata, caches it as the JWKS's
//! `Cache-Control` allows, refreshes it in the background, refetches (at most 3 fetches per
//! 30 s, remembering kids still unknown after a fetch) when a token names a kid it has not
//! seen, refuses tokens that live longer than a day, and keeps working if the issuer is down.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokenmint::verify::axum::{Bearer, BearerRejection};
use tokenmint::verify::{Algorithm, Requirements, Verifier};

/// The settings that matter: exact issuer, this service's audience, pinned algorithms,
/// a small leeway.
pub fn requirements(issuer: &str, audience: &str) -> Requirements {
    Requirements {
        issuer: issuer.to_owned(),
        audience: audience.to_owned(),
        algorithms: vec![Algorithm::ES256],
        leeway: Duration::from_secs(30),
    }
}

/// The resource server's routes: `/reports` needs `demo:read`, `/admin` needs `demo:write`.
pub fn app(verifier: Arc<Verifier>) -> Router {
    Router::new().route("/reports", get(reports)).route("/admin", get(admin)).with_state(verifier)
}

async fn reports(token: Bearer) -> Result<String, BearerRejection> {
    token.require_scopes(&["demo:read"])?;
    Ok(format!("reports for {}\n", token.claims().client_id))
}

async fn admin(token: Bearer) -> Result<String, BearerRejection> {
    token.require_scopes(&["demo:write"])?;
    Ok("admin area\n".to_owned())
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args.next().unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let audience = args.next().unwrap_or_else(|| "https://api.example.com".to_owned());
    let verifier = Verifier::discover(requirements(&issuer, &audience)).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("resource server on http://{}", listener.local_addr()?);
    axum::serve(listener, app(Arc::new(verifier))).await?;
    Ok(())
}
