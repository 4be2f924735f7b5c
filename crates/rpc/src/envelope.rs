//! The JSON-RPC 2.0 envelope, as gorilla's `json2` codec (the original's) reads and writes it.
//!
//! Requests are parsed without copying: `params` and `id` stay borrowed slices of the body until a
//! service decodes them, and responses are written straight into one buffer. The wire details that
//! an original client can observe are kept exactly: field order, `"data":null` on errors, the
//! trailing newline of Go's `json.Encoder`, the id echoed verbatim, and no body for notifications.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The only protocol version there is.
pub const JSONRPC_VERSION: &str = "2.0";

/// The request could not be parsed as JSON.
pub const PARSE_ERROR: i64 = -32700;
/// The request is not a valid JSON-RPC request, or its params do not fit the method (gorilla uses
/// this code for both).
pub const INVALID_REQUEST: i64 = -32600;
/// The method failed; also what gorilla answers for an unknown service or method.
pub const SERVER_ERROR: i64 = -32000;

/// A JSON-RPC error: what a service answers when a call fails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    /// One of the codes above.
    pub code: i64,
    /// The message a remote client shows; for application errors, the plugin's message verbatim.
    pub message: String,
}

impl RpcError {
    /// An error with an explicit code.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// The params do not decode into what the method takes.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_REQUEST, message)
    }

    /// `rpc: service/method request ill-formed: "X"`, the original's words for a method name that
    /// is not `Service.Method`.
    pub fn ill_formed(method: &str) -> Self {
        Self::new(SERVER_ERROR, format!("rpc: service/method request ill-formed: {}", go_quote(method)))
    }

    /// `rpc: can't find service "X.Y"`, the original's words for an unknown service.
    pub fn unknown_service(method: &str) -> Self {
        Self::new(SERVER_ERROR, format!("rpc: can't find service {}", go_quote(method)))
    }

    /// `rpc: can't find method "X.Y"`, the original's words for an unknown method.
    pub fn unknown_method(service: &str, method: &str) -> Self {
        Self::new(SERVER_ERROR, format!("rpc: can't find method {}", go_quote(&format!("{service}.{method}"))))
    }
}

impl From<infrakit_spi::Error> for RpcError {
    fn from(error: infrakit_spi::Error) -> Self {
        Self::new(SERVER_ERROR, error.message())
    }
}

/// A request as it arrives, borrowing from the body.
#[derive(Debug, Deserialize)]
pub(crate) struct Request<'a> {
    /// Go reads a missing version as `""`, which then fails the version check.
    #[serde(default, borrow)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Cow<'a, str>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
}

/// A request that passed the envelope checks, ready to dispatch.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    /// `Service.Method`.
    pub method: Cow<'a, str>,
    /// The params as JSON text, normalised to what the method's request struct decodes from.
    pub params: &'a str,
    /// Where to echo the answer; `None` for a notification.
    pub id: Option<&'a RawValue>,
}

/// Why a body is not a callable request, and whom to tell.
#[derive(Debug)]
pub(crate) struct Rejected<'a> {
    pub error: RpcError,
    pub reply_to: ReplyTo<'a>,
}

/// Where the answer to a rejected request goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReplyTo<'a> {
    /// The request's id.
    Id(&'a RawValue),
    /// `"id":null`: the body was not JSON, so its id is unknown (JSON-RPC 2.0 says answer anyway;
    /// gorilla would write nothing, leaving the client waiting for a body that never comes).
    Unknown,
    /// No answer: a notification.
    Nobody,
}

/// Parses and checks a request body.
pub(crate) fn parse_request(body: &[u8]) -> Result<Call<'_>, Rejected<'_>> {
    let request: Request<'_> = serde_json::from_slice(body)
        .map_err(|e| Rejected { error: RpcError::new(PARSE_ERROR, e.to_string()), reply_to: ReplyTo::Unknown })?;
    let id = request.id.filter(|id| id.get() != "null");
    let reply_to = id.map_or(ReplyTo::Nobody, ReplyTo::Id);
    // Serde would also read a struct from an array; a request is an object.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(Rejected { error: RpcError::new(INVALID_REQUEST, "a request must be a JSON object"), reply_to });
    }
    if request.jsonrpc.map(RawValue::get) != Some("\"2.0\"") {
        return Err(Rejected { error: RpcError::new(INVALID_REQUEST, "jsonrpc must be 2.0"), reply_to });
    }
    Ok(Call { method: request.method, params: normalize_params(request.params), id })
}

/// The bytes of a response around its result and id: `{"jsonrpc":"2.0","result":` and `,"id":}\n`.
const ENVELOPE_BYTES: usize = 32;

/// JSON text of the empty object: the params of a request without any.
const NO_PARAMS: &str = "{}";

/// Gives every method its params the way gorilla fills a Go struct: absent or `null` is the zero
/// value (all fields absent), and an array `[ {...} ]` is its first element, since Go decodes it
/// into `[1]interface{}` (ignoring any further elements).
fn normalize_params(params: Option<&RawValue>) -> &str {
    let Some(params) = params.map(RawValue::get) else { return NO_PARAMS };
    let first_element = || match serde_json::from_str::<Vec<&RawValue>>(params) {
        Ok(elements) => elements.first().map_or(NO_PARAMS, |first| first.get()),
        // Not reachable: the text already parsed as JSON and starts with `[`.
        Err(_) => params,
    };
    match params.as_bytes().first() {
        Some(b'n') => NO_PARAMS,
        Some(b'[') => match first_element() {
            "null" => NO_PARAMS,
            first => first,
        },
        _ => params,
    }
}

/// Writes a success response: `{"jsonrpc":"2.0","result":...,"id":...}` and Go's trailing
/// newline, around a result that is already JSON.
pub(crate) fn write_result(out: &mut Vec<u8>, result: &[u8], id: &RawValue) {
    out.reserve(ENVELOPE_BYTES + result.len() + id.get().len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","result":"#);
    out.extend_from_slice(result);
    out.extend_from_slice(br#","id":"#);
    out.extend_from_slice(id.get().as_bytes());
    out.extend_from_slice(b"}\n");
}

/// Writes an error response; `id` is `null` when the request's id could not be read.
pub(crate) fn write_error(out: &mut Vec<u8>, error: &RpcError, id: Option<&RawValue>) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","error":{"code":"#);
    out.extend_from_slice(error.code.to_string().as_bytes());
    out.extend_from_slice(br#","message":"#);
    serde_json::to_writer(&mut *out, &error.message).unwrap_or_default();
    out.extend_from_slice(br#","data":null},"id":"#);
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.extend_from_slice(b"}\n");
}

/// Quotes like Go's `%q` for the names that appear in method strings; JSON's escapes agree with
/// Go's for everything but rare control characters.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(body: &str) -> (i64, String, Option<String>) {
        let r = parse_request(body.as_bytes()).unwrap_err();
        let id = match r.reply_to {
            ReplyTo::Id(id) => Some(id.get().to_owned()),
            ReplyTo::Unknown => Some("null".to_owned()),
            ReplyTo::Nobody => None,
        };
        (r.error.code, r.error.message, id)
    }

    #[test]
    fn accepts_object_array_and_missing_params() {
        let call = parse_request(br#"{"jsonrpc":"2.0","method":"A.B","params":{"x":1},"id":7}"#).unwrap();
        assert_eq!((call.method.as_ref(), call.params, call.id.unwrap().get()), ("A.B", r#"{"x":1}"#, "7"));
        let call = parse_request(br#"{"jsonrpc":"2.0","method":"A.B","params":[{"x":2}, 3],"id":"s"}"#).unwrap();
        assert_eq!((call.params, call.id.unwrap().get()), (r#"{"x":2}"#, r#""s""#));
        let call = parse_request(br#"{"jsonrpc":"2.0","method":"A.B"}"#).unwrap();
        assert_eq!((call.params, call.id.is_none()), ("{}", true));
        let call = parse_request(br#"{"jsonrpc":"2.0","method":"A.B","params":null,"id":null}"#).unwrap();
        assert_eq!((call.params, call.id.is_none()), ("{}", true));
        for empty in ["[]", "[null]"] {
            let body = format!(r#"{{"jsonrpc":"2.0","method":"A.B","params":{empty},"id":1}}"#);
            assert_eq!(parse_request(body.as_bytes()).unwrap().params, "{}");
        }
        let call = parse_request(br#"{"jsonrpc":"2.0","method":"A.B","params":"text","id":1}"#).unwrap();
        assert_eq!(call.params, r#""text""#);
    }

    #[test]
    fn rejects_bad_envelopes_with_gorillas_codes() {
        assert_eq!((rejected("{nope").0, rejected("{nope").2.as_deref()), (PARSE_ERROR, Some("null")));
        assert_eq!(rejected("[1]").0, INVALID_REQUEST);
        assert_eq!(rejected(r#"["2.0","A.B",{},1]"#).0, INVALID_REQUEST);
        assert_eq!(rejected(r#"{"jsonrpc":"1.0","method":"A.B"}"#).2, None);
        let (code, message, id) = rejected(r#"{"jsonrpc":"1.0","method":"A.B","id":3}"#);
        assert_eq!((code, message.as_str(), id.as_deref()), (INVALID_REQUEST, "jsonrpc must be 2.0", Some("3")));
        assert_eq!(rejected(r#"{"method":"A.B","id":3}"#).0, INVALID_REQUEST);
    }

    #[test]
    fn writes_gorillas_byte_layout() {
        let id = RawValue::from_string("12".into()).unwrap();
        let mut out = Vec::new();
        write_result(&mut out, br#"{"Type":"","OK":true}"#, &id);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"jsonrpc\":\"2.0\",\"result\":{\"Type\":\"\",\"OK\":true},\"id\":12}\n"
        );
        let mut out = Vec::new();
        write_error(&mut out, &RpcError::unknown_method("Instance", "Nope"), Some(&id));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"rpc: can't find method \\\"Instance.Nope\\\"\",\"data\":null},\"id\":12}\n"
        );
    }
}
