//! The configuration's environment layer: `TOKENMINT_*` variables, the `TOKENMINT_CLIENTS__*`
//! and `TOKENMINT_USERS__*` groups among them, over an empty file. Each input line
//! `NAME=VALUE` becomes the variable `TOKENMINT_NAME` (lines that cannot name a variable
//! are skipped), and [`Config::load`] reads them as `tokenmint serve` does.
//!
//! What must hold: never a panic, and a refused configuration's message never repeats the
//! value of a secret or password setting. The value of every variable whose name holds
//! `SECRET` or `PASSWORD` gets [`CANARY`] appended, and the message must not contain it
//! (in any case, unless the input itself spells the canary out somewhere).
//!
//! libFuzzer runs one input at a time on one thread, so setting the process environment
//! here races with nothing. Names and values that are not valid UTF-8 are lost to the
//! `from_utf8` check; `=` ends a name, NUL is refused in either.
#![no_main]

use std::ffi::{CString, OsString};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use tokenmint::config::{Config, ENV_PREFIX};

/// Appended to secret values: seen in a message, the value was repeated there.
const CANARY: &str = "Qz7canary9Xw";

/// An empty configuration file, so only the defaults and the environment count.
fn base_file() -> &'static PathBuf {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_dir, path) = FILE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("tokenmint.toml");
        std::fs::write(&path, "").expect("an empty configuration file");
        (dir, path)
    });
    path
}

/// The variables an input line names: `NAME=VALUE`, with a name a process environment can
/// hold (no `=`, no NUL) and a value without NUL; secret values end in [`CANARY`].
fn variables(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(name, value)| !name.is_empty() && !name.contains('\0') && !value.contains('\0'))
        .map(|(name, value)| {
            let upper = name.to_ascii_uppercase();
            let secret = upper.contains("SECRET") || upper.contains("PASSWORD");
            let value = if secret { format!("{value}{CANARY}") } else { value.to_owned() };
            (format!("{ENV_PREFIX}{name}"), value)
        })
        .collect()
}

/// The variables of the previous input, as `NAME=VALUE` strings the environment points to.
static SET: Mutex<Vec<CString>> = Mutex::new(Vec::new());

/// Makes `vars` the only `TOKENMINT_*` variables of the process.
///
/// With `putenv`, the environment points to strings this target owns and frees once the
/// next input has taken them out: glibc's `setenv` copies each new `NAME=VALUE` and never
/// frees the copy, so over millions of inputs every distinct value would stay in memory.
fn set_environment(vars: &[(String, String)]) {
    let mut set = SET.lock().unwrap_or_else(|e| e.into_inner());
    let stale: Vec<OsString> = std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().starts_with(ENV_PREFIX))
        .collect();
    for name in stale {
        let name = CString::new(name.into_encoded_bytes()).expect("a name from the environment has no NUL");
        // SAFETY: one thread (see the module doc); `name` is a valid C string.
        unsafe { libc::unsetenv(name.as_ptr()) };
    }
    set.clear();
    for (name, value) in vars {
        let entry = CString::new(format!("{name}={value}")).expect("names and values without NUL");
        // SAFETY: one thread; the string stays alive in `SET` for as long as the
        // environment points to it (until the next input unsets it).
        unsafe { libc::putenv(entry.as_ptr().cast_mut()) };
        set.push(entry);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let vars = variables(text);
    set_environment(&vars);
    match Config::load(Some(base_file())) {
        Ok(config) => {
            let _ = config.summary();
        }
        Err(error) => {
            let message = error.to_string();
            let spelled_out = text.to_lowercase().contains(&CANARY.to_lowercase());
            assert!(
                spelled_out || !message.to_lowercase().contains(&CANARY.to_lowercase()),
                "the message repeats a secret value: {message}"
            );
        }
    }
});
