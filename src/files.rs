//! Reading the files an operator points tokenmint at (key files, the configuration, the
//! master secret, JWKS files), so that a mistake in a directory cannot stall or swamp the
//! process: only regular files are read (symlinks are followed, as Kubernetes Secret and
//! ConfigMap volumes need), and only up to a bound on their size.
//!
//! The file is opened without blocking (`O_NONBLOCK`: opening a FIFO for reading would
//! otherwise wait for a writer for ever), then its type and size are taken from the open
//! file itself (`fstat`), so nothing can be swapped in between the check and the read. A
//! FIFO, device, socket or directory is refused without a byte read; so is a file over the
//! bound, and one that grows past it while read.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::path::Path;

/// Largest key file, key tombstone or master secret file (a key file is a few KiB).
pub(crate) const MAX_KEY_FILE: u64 = 64 * 1024;
/// Largest JWKS file (a key set of many keys is tens of KiB).
pub(crate) const MAX_JWKS_FILE: u64 = 1024 * 1024;
/// Largest TLS certificate chain or key file (a chain of a few certificates is a few KiB).
pub(crate) const MAX_TLS_FILE: u64 = 1024 * 1024;
/// Largest configuration file (100,000 clients take about 15 MiB).
pub(crate) const MAX_CONFIG_FILE: u64 = 256 * 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Not a regular file (after following symlinks).
    #[error("not a regular file but a {0}: not read")]
    NotRegular(&'static str),
    /// Larger than the bound for its kind.
    #[error("larger than {max} bytes: not read")]
    TooLarge {
        /// The bound.
        max: u64,
    },
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl ReadError {
    /// Whether the file does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// The bytes of the regular file at `path`, if it holds at most `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(&meta.file_type())));
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge { max });
    }
    // Capacity for what `fstat` said, plus one byte to notice a file that grew meanwhile.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge { max });
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub(crate) fn read_text_bounded(path: &Path, max: u64) -> Result<String, ReadError> {
    let bytes = read_bounded(path, max)?;
    String::from_utf8(bytes)
        .map_err(|_| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

/// What a file that is not regular is, for the error line.
#[cfg(unix)]
fn kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn kind(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() { "directory" } else { "special file" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_bound_are_read_and_others_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"abc").unwrap();
        assert_eq!(read_bounded(&small, 3).unwrap(), b"abc");
        assert!(matches!(read_bounded(&small, 2), Err(ReadError::TooLarge { max: 2 })));
        assert!(matches!(read_bounded(dir.path(), 10), Err(ReadError::NotRegular("directory"))));
        assert!(read_bounded(&dir.path().join("missing"), 10).unwrap_err().is_not_found());
        #[cfg(unix)]
        {
            // A device behind a symlink: refused by type, never read (it would never end).
            let link = dir.path().join("zero.pem");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            assert!(matches!(read_bounded(&link, 10), Err(ReadError::NotRegular("device"))));
            // A symlink to a regular file is followed.
            let to_small = dir.path().join("to-small");
            std::os::unix::fs::symlink(&small, &to_small).unwrap();
            assert_eq!(read_bounded(&to_small, 10).unwrap(), b"abc");
        }
    }
}
