//! The bearer token every request must carry: generated once into the home folder, readable by
//! its owner only, unless the environment gives one; and compared without telling anything about
//! it through timing.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::Error;

/// The environment variable with a token to use instead of the generated one.
pub const TOKEN_ENV: &str = "INFRAKIT_TOKEN";
/// The token file in the home folder.
const TOKEN_FILE: &str = "token";
/// Random bytes in a generated token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;

/// The token: `INFRAKIT_TOKEN`, else the home's token file, created on first use.
pub fn token(home: &Path) -> Result<String, Error> {
    resolve(std::env::var(TOKEN_ENV).ok(), home)
}

/// The token `given`, if it is not empty, else the home's token file, created on first use.
fn resolve(given: Option<String>, home: &Path) -> Result<String, Error> {
    if let Some(token) = given.filter(|t| !t.is_empty()) {
        return Ok(token);
    }
    let path = home.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(Error::ReadToken { path, source }),
    }
    let token: String = (0..TOKEN_BYTES).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
    std::fs::create_dir_all(home).map_err(|source| Error::CreateToken { path: home.to_owned(), source })?;
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
        Ok(file) => file,
        Err(source) => return Err(Error::CreateToken { path, source }),
    };
    match writeln!(file, "{token}") {
        Ok(()) => Ok(token),
        Err(source) => Err(Error::WriteToken { path, source }),
    }
}

/// Compares two tokens in a time that tells nothing about the expected one: both are hashed and
/// the digests, always of one length, compared without stopping at the first difference. (A
/// plain comparison returns early on a length mismatch, which tells the token's length.)
pub(crate) fn same(presented: &[u8], expected: &[u8]) -> bool {
    let (presented, expected) = (Sha256::digest(presented), Sha256::digest(expected));
    presented.iter().zip(expected.iter()).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_token_is_created_for_its_owner_only_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let token = resolve(None, &home).unwrap();
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        let file = home.join(TOKEN_FILE);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{token}\n"));
        assert_eq!(resolve(None, &home).unwrap(), token, "the second start reads the first one's token");
        assert_eq!(resolve(Some(String::new()), &home).unwrap(), token, "an empty given token is none");
    }

    #[test]
    fn a_given_token_wins_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve(Some("shared".to_owned()), dir.path()).unwrap(), "shared");
        assert!(!dir.path().join(TOKEN_FILE).exists());
    }

    #[test]
    fn an_unreadable_token_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(TOKEN_FILE)).unwrap();
        let error = resolve(None, dir.path()).unwrap_err();
        assert!(matches!(error, Error::ReadToken { .. }), "{error:?}");
        assert!(error.to_string().contains(&dir.path().join(TOKEN_FILE).display().to_string()), "{error}");
    }

    #[test]
    fn tokens_match_only_when_equal_whatever_their_lengths() {
        let token = b"4f1c0ffee";
        assert!(same(token, token));
        assert!(same(b"", b""));
        assert!(!same(b"4f1c0ffe", token), "a prefix");
        assert!(!same(b"4f1c0ffee0", token), "longer");
        assert!(!same(b"", token));
        assert!(!same(b"4f1c0ffef", token), "one byte differs");
    }
}
