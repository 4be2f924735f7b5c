//! What a template reaches beyond its own files: documents over the network (`http(s)://`
//! template URLs and `fetch`) and the running manager (`metadata`).
//!
//! The engine is synchronous and knows no network; the program that renders supplies a
//! [`Host`], so that the template crate needs no HTTP client and a test can script one. Without
//! a host those functions fail with a message that says so.

/// The outside world of a render.
pub trait Host: Send + Sync {
    /// The text of an `http://` or `https://` document.
    fn fetch(&self, url: &str) -> Result<String, String>;

    /// The value at `path` in the running manager's metadata (`specs/web`, `groups/web/...`),
    /// `None` when there is nothing there.
    fn metadata(&self, path: &str) -> Result<Option<serde_json::Value>, String>;
}
