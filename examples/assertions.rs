//! Pre-made `private_key_jwt` token requests for `bench/run.sh`: one ES256 client key, and
//! any number of form bodies, each with its own client assertion (RFC 7523 §2.2: `iss` =
//! `sub` = the client, `aud` the server, a fresh `jti`), one per line, for wrk to send in
//! turn (`bench/post_lines.lua`). Signing happens here, ahead of the load, so the load
//! generator does no crypto.
//!
//! ```sh
//! # The client's key pair: DIR/client.pk8 (PKCS#8 DER, private) and DIR/client.jwks.json.
//! cargo run --release --example assertions -- keygen DIR
//! # 100,000 request bodies for client `bench-pkjwt` at http://127.0.0.1:18080, valid 120 s.
//! cargo run --release --example assertions -- sign DIR bench-pkjwt http://127.0.0.1:18080 100000 120 > bodies.txt
//! ```

use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// The `kid` of the client's key.
const KID: &str = "bench-pkjwt-1";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Writes a fresh P-256 key pair into `dir`.
fn keygen(dir: &Path) -> Result<()> {
    let pair =
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| "key generation failed")?;
    let der = pair.to_pkcs8v1().map_err(|_| "key encoding failed")?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("client.pk8"), der.as_ref())?;
    let key = EncodingKey::from_ec_der(der.as_ref());
    let mut jwk = serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256)?)?;
    jwk["kid"] = json!(KID);
    jwk["use"] = json!("sig");
    std::fs::write(dir.join("client.jwks.json"), json!({ "keys": [jwk] }).to_string())?;
    Ok(())
}

/// Prints `count` token-request bodies for `client` at `audience`, each assertion valid for
/// `valid_secs`.
fn sign(dir: &Path, client: &str, audience: &str, count: u64, valid_secs: u64) -> Result<()> {
    let key = EncodingKey::from_ec_der(&std::fs::read(dir.join("client.pk8"))?);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.to_owned());
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let prefix = "grant_type=client_credentials&scope=api:read\
                  &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
                  &client_assertion=";
    let mut out = BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let claims = json!({
            "iss": client, "sub": client, "aud": audience, "iat": now, "exp": now + valid_secs,
            "jti": format!("{now}-{i}"),
        });
        writeln!(out, "{prefix}{}", jsonwebtoken::encode(&header, &claims, &key)?)?;
    }
    out.flush()?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["keygen", dir] => keygen(Path::new(dir)),
        ["sign", dir, client, audience, count, valid] => {
            sign(Path::new(dir), client, audience, count.parse()?, valid.parse()?)
        }
        _ => {
            Err("usage: assertions keygen DIR | assertions sign DIR CLIENT AUDIENCE COUNT VALID_SECS".into())
        }
    }
}
