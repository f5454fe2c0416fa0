//! A JWKS document as a resource server fetches it (or reads it from a file): parsing never
//! panics, and only usable public signature keys are kept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenmint::verify::Jwks;

fuzz_target!(|data: &[u8]| {
    if let Ok(jwks) = Jwks::from_json(data) {
        // The count and the lookups agree with each other.
        assert_eq!(jwks.is_empty(), jwks.len() == 0);
    }
});
