//! Token-request parameters and client credentials, from a form body, a JSON body or
//! (for `grant_type` only) the query string.
//!
//! Values borrow from the body where no decoding is needed, so a usual form request is
//! parsed without copying.
//!
//! Rules enforced here, before any policy runs:
//! - a parameter sent without a value (`scope=`, JSON `""`) is dropped, as if omitted
//!   (RFC 6749 §3.1), before any other check;
//! - a repeated parameter is `invalid_request` (RFC 6749 §3.2), except `resource` and
//!   `audience`, which RFC 8707 §2 allows more than once;
//! - at most [`MAX_PARAMS`] parameters;
//! - client credentials never come from the query string;
//! - a body comes with one `Content-Type` (an empty body may have none: `grant_type` is
//!   then in the query string, Apigee's style).

use std::borrow::Cow;
use std::fmt;

use axum::http::{HeaderMap, header};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::error::{ErrorCode, OAuthError};
use super::{Repeated, single_header};

/// Parameters that may be repeated (RFC 8707 §2).
const MULTI_VALUED: &[&str] = &["resource", "audience"];

/// Most parameters one request may carry. A token request has a handful; the bound keeps
/// the repeated-parameter check (pairwise) cheap whatever a client sends.
pub(crate) const MAX_PARAMS: usize = 64;

/// One parameter: name and value, borrowed from the request where possible.
type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// The request's parameters as name/value pairs: none with an empty value, duplicates
/// already refused.
#[derive(Debug, Default)]
pub(crate) struct Params<'a> {
    pairs: Vec<Pair<'a>>,
}

impl<'a> Params<'a> {
    /// The single value of `name`, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// Every value of `name`.
    pub(crate) fn all<'p>(&'p self, name: &'p str) -> impl Iterator<Item = &'p str> + 'p {
        self.pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// Parses a body by its content type, then adds `grant_type` from the query string.
    /// Parameters without a value are dropped everywhere (RFC 6749 §3.1).
    pub(crate) fn parse(
        headers: &HeaderMap,
        query: Option<&'a str>,
        body: &'a [u8],
    ) -> Result<Params<'a>, OAuthError> {
        let mut pairs = match media_type(headers)? {
            // Apigee's style: `grant_type` in the query string, no body.
            None if body.is_empty() => Vec::new(),
            None => {
                return Err(OAuthError::invalid_request(
                    "a request body needs a Content-Type: application/x-www-form-urlencoded or application/json",
                ));
            }
            Some(t) if t.eq_ignore_ascii_case("application/x-www-form-urlencoded") => {
                form_pairs(body).collect()
            }
            Some(t) if t.eq_ignore_ascii_case("application/json") => parse_json(body)?,
            Some(other) => {
                return Err(OAuthError::echoing(
                    ErrorCode::InvalidRequest,
                    "unsupported content type; send application/x-www-form-urlencoded or application/json",
                    other,
                ));
            }
        };
        if let Some(q) = query {
            for (k, v) in form_pairs(q.as_bytes()) {
                match k.as_ref() {
                    "grant_type" => pairs.push((k, v)),
                    "client_id" | "client_secret" => {
                        return Err(OAuthError::invalid_request(
                            "client credentials must not be sent in the query string",
                        ));
                    }
                    _ => {}
                }
            }
        }
        if pairs.len() > MAX_PARAMS {
            return Err(OAuthError::invalid_request(format!(
                "more than {MAX_PARAMS} parameters in one request"
            )));
        }
        if let Some(name) = first_repeated(&pairs) {
            return Err(OAuthError::echoing(
                ErrorCode::InvalidRequest,
                "repeated parameter (RFC 6749 section 3.2)",
                name,
            ));
        }
        Ok(Params { pairs })
    }
}

/// The pairs of a form-urlencoded text, without those sent without a value (RFC 6749 §3.1).
fn form_pairs(text: &[u8]) -> impl Iterator<Item = Pair<'_>> {
    form_urlencoded::parse(text).filter(|(_, value)| !value.is_empty())
}

/// The first parameter name given twice, among those that may appear only once.
fn first_repeated<'p>(pairs: &'p [Pair<'_>]) -> Option<&'p str> {
    pairs.iter().enumerate().find_map(|(i, (name, _))| {
        let repeated = !MULTI_VALUED.contains(&name.as_ref()) && pairs[..i].iter().any(|(n, _)| n == name);
        repeated.then_some(name.as_ref())
    })
}

/// The media type of `Content-Type`, parameters and surrounding space dropped; the header
/// given twice is `invalid_request` (not a list field, RFC 9110 §5.3).
fn media_type(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let value = single_header(headers, header::CONTENT_TYPE).map_err(|Repeated| {
        OAuthError::invalid_request("more than one Content-Type header (RFC 9110 section 5.3)")
    })?;
    Ok(value.map(|v| v.to_str().unwrap_or("invalid").split(';').next().unwrap_or("").trim()))
}

/// A JSON object whose values are strings (numbers and booleans are taken as their text;
/// arrays of strings only for multi-valued parameters). Duplicate keys are kept, so the
/// repeated-parameter rule applies to JSON too. `""` and `null` are a parameter without a
/// value, dropped as in a form (RFC 6749 §3.1); so is `""` inside an array.
fn parse_json(body: &[u8]) -> Result<Vec<Pair<'static>>, OAuthError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let raw = de.deserialize_map(PairsVisitor).and_then(|pairs| de.end().map(|()| pairs)).map_err(|e| {
        // Only the error's kind and place: serde's own text may quote the body.
        let kind = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "malformed",
            serde_json::error::Category::Data => "not an object",
            serde_json::error::Category::Eof => "cut short",
        };
        OAuthError::invalid_request(format!(
            "the JSON body is not a valid object: {kind} at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let mut pairs = Vec::with_capacity(raw.len());
    for (k, v) in raw {
        match v {
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => pairs.push((k.into(), s.into())),
            Value::Number(n) => pairs.push((k.into(), n.to_string().into())),
            Value::Bool(b) => pairs.push((k.into(), b.to_string().into())),
            Value::Null => {}
            Value::Array(items) if MULTI_VALUED.contains(&k.as_str()) => {
                for item in items {
                    match item {
                        Value::String(s) if s.is_empty() => {}
                        Value::String(s) => pairs.push((k.clone().into(), s.into())),
                        _ => return Err(not_a_string(&k)),
                    }
                }
            }
            _ => return Err(not_a_string(&k)),
        }
    }
    Ok(pairs)
}

/// A JSON member whose value is neither a string nor, where allowed, an array of strings.
fn not_a_string(name: &str) -> OAuthError {
    OAuthError::echoing(
        ErrorCode::InvalidRequest,
        "a parameter must be a string (resource and audience: or an array of strings)",
        name,
    )
}

/// Reads a JSON object as its members in order, repeated names kept.
pub(super) struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some(entry) = map.next_entry::<String, Value>()? {
            pairs.push(entry);
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_duplicates_are_refused_rfc6749_3_2() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let err = Params::parse(&h, None, br#"{"scope":"a","scope":"b"}"#).unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_request");
        let ok = Params::parse(&h, None, br#"{"resource":["x","y"],"expires_in":60}"#).unwrap();
        assert_eq!(ok.all("resource").collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(ok.get("expires_in"), Some("60"));
    }

    #[test]
    fn parameters_without_a_value_are_dropped_rfc6749_3_1() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/x-www-form-urlencoded".parse().unwrap());
        let form = Params::parse(&h, Some("grant_type="), b"scope=&scope=&resource=x&resource=&a").unwrap();
        assert_eq!((form.get("grant_type"), form.get("scope"), form.get("a")), (None, None, None));
        assert_eq!(form.all("resource").collect::<Vec<_>>(), ["x"]);
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let json = Params::parse(&h, None, br#"{"scope":"","scope":"a","resource":["","x"]}"#).unwrap();
        assert_eq!(json.get("scope"), Some("a"));
        assert_eq!(json.all("resource").collect::<Vec<_>>(), ["x"]);
    }
}
