//! The checkpoint signing key: an Ed25519 key in a file outside the database, in the
//! C2SP signer-key text format (`PRIVATE+KEY+<name>+<key id>+<base64>`), mode 0600; and
//! the trusted verifier keys, a file of C2SP verifier keys (`<name>+<key id>+<base64>`),
//! one per line: the trust roots of the service, outside the database too.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context};

use super::note::{SigningKey, VerifierKey};

/// Reads a signing key file.
pub fn load(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    SigningKey::from_signer_string(text.trim())
        .map_err(|e| anyhow::anyhow!("{} is not a signing key: {e}", path.display()))
}

/// Generates a key named `name` and writes it to `path` (never overwriting a file).
pub fn generate(path: &Path, name: &str) -> anyhow::Result<SigningKey> {
    let key = SigningKey::generate(name).map_err(|e| anyhow::anyhow!("generating a key: {e}"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    writeln!(file, "{}", key.to_signer_string())?;
    file.sync_all()?;
    Ok(key)
}

/// Loads the key at `path`, generating it first when `create` is set and it is missing.
pub fn load_or_generate(path: &Path, name: &str, create: bool) -> anyhow::Result<SigningKey> {
    if path.exists() {
        let key = load(path)?;
        if key.name() != name {
            tracing::warn!(
                key.name = key.name(),
                log.name = name,
                "the signing key's name differs from FUNDTRAIL_LOG_NAME; checkpoints carry the key's name"
            );
        }
        return Ok(key);
    }
    if !create {
        bail!(
            "no signing key at {}; create one with `fundtrail keygen --out {}`",
            path.display(),
            path.display()
        );
    }
    let key = generate(path, name)?;
    tracing::info!(key.path = %path.display(), key.id = format!("{:08x}", key.key_id()), "generated a checkpoint signing key");
    Ok(key)
}

/// Verifier keys from a file, one per line (`#` comments and blank lines ignored); a key
/// listed twice is one key.
pub fn load_verifiers(path: &Path) -> anyhow::Result<Vec<VerifierKey>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the trusted keys {}", path.display()))?;
    let mut keys: Vec<VerifierKey> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = VerifierKey::from_verifier_string(line)
            .map_err(|e| anyhow::anyhow!("{}: {line:?}: {e}", path.display()))?;
        if !keys
            .iter()
            .any(|k| k.to_verifier_string() == key.to_verifier_string())
        {
            keys.push(key);
        }
    }
    Ok(keys)
}
