//! A key file as the key directory holds it (TOML metadata, then a PEM block): parsing never
//! panics, whatever an operator or a broken disk left there.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _usable = tokenmint::bench::parse_key_file(text);
    }
});
