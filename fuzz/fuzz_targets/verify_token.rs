//! The verifier on whatever a caller presents as a token: compact JWS to checked claims,
//! against a key set holding a real ES256 key. Never a panic; and a token the fuzzer did not
//! sign with that key never verifies.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use tokenmint::verify::{Algorithm, Jwks, Requirements, Verifier};

/// An ES256 public key (P-256, the example key of RFC 7515 §A.3), its kid `fuzz`. A fuzzer
/// cannot forge an ECDSA signature, so no input it makes may verify.
const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"fuzz","use":"sig","alg":"ES256",
"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

fn verifier() -> &'static (Verifier, tokio::runtime::Runtime) {
    static V: OnceLock<(Verifier, tokio::runtime::Runtime)> = OnceLock::new();
    V.get_or_init(|| {
        let jwks = Jwks::from_json(JWKS.as_bytes()).expect("the fuzz JWKS parses");
        let requirements = Requirements {
            issuer: "https://tokens.fuzz".into(),
            audience: "https://api.one".into(),
            algorithms: vec![Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256],
            leeway: Duration::from_secs(30),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        (Verifier::new(requirements, jwks).expect("valid requirements"), runtime)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let (verifier, runtime) = verifier();
    let verified = runtime
        .block_on(verifier.verify_at(token, SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)));
    assert!(verified.is_err(), "a token the fuzzer made verified");
});
