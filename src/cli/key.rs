//! Reading the API key: from `PEAKA_API_KEY` or the file named by
//! `--api-key-file`, never both, bounded, and refused with words that
//! never echo it (nor the file's path, in case the key was typed there).

use std::io::Read;
use std::path::Path;

use super::ApiKey;
use super::names::Names;

/// At most this much of a key file is read: a key is a line, and a path
/// like `/dev/zero` must not fill the memory.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// No Peaka API key is shorter; a shorter one is a copy-paste accident, and
/// scrubbing a 1-character key from messages would garble every word.
pub(super) const MIN_KEY_CHARS: usize = crate::secret::MIN_KEY_LEN;

pub(super) fn read_api_key(
    file: Option<&Path>,
    names: &Names<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ApiKey, String> {
    // The action always sets PEAKA_API_KEY, empty when its input is.
    let from_env = env("PEAKA_API_KEY").filter(|k| file.is_none() || !k.trim().is_empty());
    // The path is never shown: a key typed where the path goes is a key.
    let file_name = names.of("api_key_file");
    let key = match (file, from_env) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "both PEAKA_API_KEY and a key file ({file_name}) are set: use one"
            ));
        }
        (Some(path), None) => read_key_file(path, &file_name)?,
        (None, Some(key)) => key,
        (None, None) => {
            return Err("no API key: set PEAKA_API_KEY, or pass --api-key-file PATH (or set PEAKA_API_KEY_FILE)".into());
        }
    };
    let key = key.trim();
    let source = match file {
        Some(_) => format!("the API key in the file named by {file_name}"),
        None => "PEAKA_API_KEY".to_owned(),
    };
    if key.is_empty() {
        return Err(match file {
            Some(_) => format!("the file named by {file_name} is empty"),
            None => "PEAKA_API_KEY is empty (in GitHub Actions, a secret that does not exist is empty: check its name)".into(),
        });
    }
    if key.len() < MIN_KEY_CHARS {
        return Err(format!(
            "{source} is shorter than {MIN_KEY_CHARS} characters, which no Peaka API key is: check that the whole key was copied"
        ));
    }
    Ok(ApiKey(key.to_owned()))
}

fn read_key_file(path: &Path, file_name: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|err| {
            format!(
                "cannot read the API key file named by {file_name} ({}); the path is not shown, in case it is the key itself",
                io_reason(&err)
            )
        })?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "the file named by {file_name} is larger than 64 KiB, so it does not hold just a key: point it at the file with the key"
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        format!("the file named by {file_name} is not UTF-8 text, so it does not hold a key")
    })
}

/// The reason of an I/O error without the OS error number clutter.
fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
