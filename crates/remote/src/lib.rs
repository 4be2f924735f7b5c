//! Remote access: every plugin of this machine over HTTP on TCP, as the original's mux
//! (`/<plugin>/<rest>` to the plugin's socket as `/<rest>`; `OPTIONS /` lists the plugins), with
//! a bearer token required on every request, and forwarded to the leader when this manager is not
//! the leader.
//!
//! There is no unauthenticated access: the token is generated on first start into
//! `$INFRAKIT_HOME/token` (mode 0600) unless `INFRAKIT_TOKEN` gives one (managers of one cluster
//! share theirs, so that a follower's forward is accepted by the leader). A missing or wrong
//! token gets 401 with an empty body. With a certificate and key, the mux speaks TLS only.
//!
//! A follower forwards to the leader's advertised location; to an `https://` leader over TLS,
//! trusting `INFRAKIT_TLS_CA` if it is set, else this manager's own certificate (managers of one
//! cluster often share one, with every manager's address in it), else the system's roots.
//!
//! - [`token()`]: the bearer token, and how a presented one is compared;
//! - [`TlsFiles`]: the server's certificate and key, and what a forward trusts;
//! - [`serve()`]: the listener and its connections;
//! - [`Cluster`]: what the mux needs to know of the manager it fronts, to route a request.

mod error;
mod proxy;
mod serve;
mod tls;
mod token;

pub use error::Error;
pub use proxy::Cluster;
pub use serve::{LISTEN_ENV, serve};
pub use tls::{TLS_CERT_ENV, TLS_KEY_ENV, TlsFiles};
pub use token::{TOKEN_ENV, token};
