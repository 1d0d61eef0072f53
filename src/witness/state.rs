//! The witness's durable state: for each log origin, the latest checkpoint it cosigned,
//! kept as that checkpoint's note (the log's verified signature lines and the witness's
//! cosignature) in `<data dir>/logs/<hex SHA-256 of the origin>.checkpoint`.
//!
//! A file is replaced atomically: the new note is written to a temporary file in the same
//! directory, flushed to disk (`fsync`), renamed over the old one, and the directory is
//! flushed, so a crash leaves either the old or the new checkpoint, never a mix, and a
//! cosignature is only answered once its checkpoint is on disk. The file name is the
//! tlog-witness "origin hash", so the monitoring endpoint reads the same file.
//!
//! The directory is trusted (as the witness's key is): a file is parsed, not re-verified.
//! One witness process per data directory: the in-process lock in `update` is what
//! makes check-then-write atomic.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::ledger::cosignature::split_note;
use crate::ledger::merkle::Hash;
use crate::ledger::note::Checkpoint;

/// Largest state file read back, in bytes (a checkpoint note is well under 4 KiB).
const STATE_FILE_BYTES_MAX: u64 = 64 * 1024;

/// Why the state of a log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A state file is not a checkpoint note of its log (edited, or truncated by hand).
    #[error("{path} is not a checkpoint of {origin:?}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The log it should hold.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

/// The latest checkpoint cosigned for one log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogState {
    /// Its tree size.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// The whole note: checkpoint text, blank line, the log's signature lines, the
    /// witness's cosignature line.
    pub note: String,
}

/// Lower-case hex SHA-256 of an origin line: the state file's name and the
/// `<origin hash>` of tlog-witness's monitoring URL.
pub fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

/// The directory of per-log state files.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

impl StateDir {
    /// Opens (creating, mode 0700) `<data_dir>/logs`.
    pub fn open(data_dir: &Path) -> Result<Self, StateError> {
        let dir = data_dir.join("logs");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_error(&dir))?;
        Ok(Self { dir })
    }

    fn path(&self, origin_hash: &str) -> PathBuf {
        self.dir.join(format!("{origin_hash}.checkpoint"))
    }

    /// The stored note of the log whose origin hashes to `origin_hash`, if any.
    /// `origin_hash` must be 64 lower-case hex digits (`None` otherwise).
    pub fn read_note(&self, origin_hash: &str) -> Result<Option<String>, StateError> {
        let is_hash = origin_hash.len() == 64
            && origin_hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_hash {
            return Ok(None);
        }
        let path = self.path(origin_hash);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, STATE_FILE_BYTES_MAX),
            &mut text,
        )
        .map_err(io_error(&path))?;
        Ok(Some(text))
    }

    /// The latest cosigned checkpoint of `origin`, or `None` if it was never cosigned.
    pub fn load(&self, origin: &str) -> Result<Option<LogState>, StateError> {
        let hash = origin_hash(origin);
        let Some(note) = self.read_note(&hash)? else {
            return Ok(None);
        };
        let corrupt = |reason: String| StateError::Corrupt {
            path: self.path(&hash),
            origin: origin.to_owned(),
            reason,
        };
        let (text, _) = split_note(&note).map_err(|e| corrupt(e.to_string()))?;
        let checkpoint = Checkpoint::parse(text).map_err(|e| corrupt(e.to_string()))?;
        if checkpoint.origin != origin {
            return Err(corrupt(format!("its origin is {:?}", checkpoint.origin)));
        }
        Ok(Some(LogState {
            size: checkpoint.size,
            root: checkpoint.root,
            note,
        }))
    }

    /// Replaces the state of `origin` by `note`, durably (see the module's comment).
    pub fn store(&self, origin: &str, note: &str) -> Result<(), StateError> {
        let hash = origin_hash(origin);
        let path = self.path(&hash);
        let tmp = self.dir.join(format!("{hash}.checkpoint.tmp"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_error(&tmp))?;
        file.write_all(note.as_bytes()).map_err(io_error(&tmp))?;
        file.sync_all().map_err(io_error(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io_error(&path))?;
        // The rename is durable only once the directory entry is.
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&self.dir))?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions
)]
mod tests {
    use super::*;

    const NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!(
            "ft-witness-state-{}",
            uuid::Uuid::new_v4().simple()
        ))
    }

    #[test]
    fn store_then_load_and_replace() {
        let dir = temp_dir();
        let state = StateDir::open(&dir).unwrap();
        let origin = "example.com/behind-the-sofa";
        assert_eq!(state.load(origin).unwrap(), None);
        state.store(origin, NOTE).unwrap();
        let got = state.load(origin).unwrap().unwrap();
        assert_eq!(got.size, 20852163);
        assert_eq!(got.note, NOTE);
        let bigger = NOTE.replace("20852163", "20852164");
        state.store(origin, &bigger).unwrap();
        assert_eq!(state.load(origin).unwrap().unwrap().size, 20852164);
        // No temporary file is left behind; the file is the origin hash.
        let names: Vec<String> = std::fs::read_dir(dir.join("logs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![format!("{}.checkpoint", origin_hash(origin))]);
        // A state file of another origin is refused, not trusted.
        state.store("other.example/log", NOTE).unwrap();
        assert!(matches!(
            state.load("other.example/log"),
            Err(StateError::Corrupt { .. })
        ));
        assert_eq!(state.read_note("../etc/passwd").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn origin_hash_is_lower_case_sha256_hex() {
        assert_eq!(
            origin_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
