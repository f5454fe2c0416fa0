//! Which strings a writer may copy between quotes unchanged.
//!
//! Printable ASCII without `"` or `\` is written as it is both by `Debug` (the log
//! formatter's quoting) and by JSON (serde_json escapes only quotes, backslashes and control
//! characters), so a writer that checks this first can skip the per-character escaping of
//! either and stay byte-for-byte what they write.

/// Whether `value` is printable ASCII without `"` or `\`: written unchanged between quotes by
/// `Debug` and by JSON. Folded over every byte rather than stopping at the first that is
/// not, so that the compiler vectorizes it: the values checked are nearly always plain.
pub(crate) fn is_plain(value: &str) -> bool {
    value.bytes().fold(true, |plain, b| plain & (b' '..=b'~').contains(&b) & (b != b'"') & (b != b'\\'))
}

#[cfg(test)]
mod tests {
    use super::is_plain;

    #[test]
    fn plain_strings_are_written_unchanged_by_debug_and_json() {
        for byte in 0u8..=0x7f {
            let value = char::from(byte).to_string();
            let unchanged_by_debug = format!("{value:?}") == format!("\"{value}\"");
            let unchanged_by_json = serde_json::to_string(&value).ok() == Some(format!("\"{value}\""));
            assert_eq!(is_plain(&value), unchanged_by_debug && unchanged_by_json, "byte {byte:#04x}");
        }
        assert!(is_plain("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln api:read"));
        assert!(!is_plain("caf\u{e9}"), "non-ASCII is escaped by Debug");
        assert!(!is_plain("a\"b"));
    }
}
