//! The configuration file: defaults < TOML, every check. Never a panic; an invalid file is
//! a list of problems, and a valid one summarises.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = tokenmint::config::Config::from_toml(text)
    {
        let _ = config.summary();
    }
});
