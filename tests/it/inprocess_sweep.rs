//! Seeded random sweeps of the token endpoint, in-process.
//!
//! The first sweep builds client-credentials requests from many independent choices
//! (authentication method, form or JSON, grant, scopes, resources, lifetime, unknown
//! parameters, some sent without a value) and checks each answer against a small model of
//! the policy: the exact status and error code (RFC 6749 §3.1, §5.2), or a token whose claims
//! are exactly what the model grants (RFC 6749 §3.3, §4.4, §5.1; RFC 8707 §2; RFC 9068 §2.2).
//! The second sweep corrupts the bytes of valid requests and checks only what must always
//! hold: no 5xx, an OAuth JSON answer with a conforming description, a token that verifies,
//! and no secret echoed back.
//!
//! Seeds are fixed so a failure is reproducible; each failure message carries the request.

use serde_json::{Map, Value, json};
use tokenmint::claims::Audience;

use crate::helpers::*;

/// Requests per model sweep and per corruption sweep.
const CASES: usize = 300;

/// The scopes `svc-a` may have (helpers::CLIENTS), and its default.
const ALLOWED_SCOPES: [&str; 3] = ["read", "write", "admin:all"];
const DEFAULT_SCOPE: &str = "read";
/// The audiences `svc-a` may ask for; the first is its default. `billing` is a bare name, so
/// only `audience` may name it: a `resource` must be an absolute URI (RFC 8707 §2).
const ALLOWED_AUDIENCES: [&str; 3] = ["https://api.one", "https://api.two", "billing"];
/// `svc-a`'s lifetime: the service default, 5 minutes.
const TTL: u64 = 300;

/// A secret that is not `svc-a`'s, to check it is never echoed.
const WRONG_SECRET: &str = "wrong-secret-7f3a9c";

/// How a request authenticates (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy)]
enum Auth {
    /// `svc-a` with HTTP Basic.
    Basic,
    /// `svc-a` with `client_id` and `client_secret` in the body.
    Post,
    /// `svc-a` with Basic, and the same `client_id` in the body (allowed, RFC 6749 §3.2.1).
    BasicWithBodyId,
    /// Basic credentials, and a different `client_id` in the body.
    BodyIdMismatch,
    /// `svc-a` with a wrong secret.
    WrongSecret,
    /// A client that does not exist.
    UnknownClient,
    /// Basic and `client_secret` at once.
    Both,
    /// `svc-a` with Basic, and an empty `client_secret`: omitted, so one method (RFC 6749 §3.1).
    BasicWithEmptyBodySecret,
    /// Empty `client_id` and `client_secret` and no Basic: no credentials (RFC 6749 §3.1).
    EmptyPost,
    /// No credentials at all.
    Neither,
}

/// One generated request.
#[derive(Debug)]
struct Case {
    auth: Auth,
    json: bool,
    grant: Option<&'static str>,
    /// Values of `scope`: more than one non-empty value is a repeated parameter.
    scopes: Vec<String>,
    /// `resource` and `audience` parameters, in the order sent.
    resources: Vec<(&'static str, &'static str)>,
    expires_in: Option<String>,
    /// Parameters the endpoint must ignore.
    unknown: Vec<(&'static str, String)>,
}

/// What the model says the endpoint answers.
#[derive(Debug, PartialEq)]
enum Expected {
    Error(u16, &'static str),
    Token { scope: Vec<String>, audiences: Vec<String>, ttl: u64 },
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

impl Case {
    fn generate(rng: &mut fastrand::Rng) -> Case {
        // Valid choices dominate, so that most requests reach the later checks.
        let auth = if rng.u8(..4) < 3 {
            pick(rng, &[Auth::Basic, Auth::Post, Auth::BasicWithBodyId, Auth::BasicWithEmptyBodySecret])
        } else {
            pick(
                rng,
                &[
                    Auth::BodyIdMismatch,
                    Auth::WrongSecret,
                    Auth::UnknownClient,
                    Auth::Both,
                    Auth::Neither,
                    Auth::EmptyPost,
                ],
            )
        };
        let grant = match rng.u8(..16) {
            0 => None,
            1 => Some(pick(rng, &["urn:example:nope", "CLIENT_CREDENTIALS", "client_credentials ", ""])),
            _ => Some("client_credentials"),
        };
        let scope_count = match rng.u8(..16) {
            0..=4 => 0,
            5 => 2,
            _ => 1,
        };
        let scopes = (0..scope_count).map(|_| scope_value(rng)).collect();
        let resources = (0..pick(rng, &[0, 0, 1, 1, 2, 3]))
            .map(|_| {
                let name = pick(rng, &["resource", "audience"]);
                let value = if rng.u8(..8) == 0 {
                    pick(
                        rng,
                        &[
                            "https://evil.example",
                            "",
                            "https://api.one/",
                            "api.one",
                            "https://api.one#x",
                            "urn:x",
                        ],
                    )
                } else {
                    pick(rng, &ALLOWED_AUDIENCES)
                };
                (name, value)
            })
            .collect();
        let expires_in = rng.bool().then(|| {
            let valid = ["1", "59", "300", "301", "86400", " 60 "];
            let invalid = ["0", "-5", "abc", "", "1e3", "18446744073709551616"];
            let choices = if rng.u8(..4) == 0 { invalid } else { valid };
            pick(rng, &choices).to_owned()
        });
        let unknown = (0..rng.usize(..3))
            .map(|i| {
                let name = ["state", "nonce", "x_extra"][i];
                (name, pick(rng, &["1", "", "ü €", "a&b=c", "%41"]).to_owned())
            })
            .collect();
        Case { auth, json: rng.bool(), grant, scopes, resources, expires_in, unknown }
    }

    /// The answer RFC 6749 and RFC 8707 call for, in the order the checks apply.
    fn expected(&self) -> Expected {
        use Expected::Error;
        // RFC 6749 §3.1: a parameter without a value is as if omitted, before any check.
        let given = |v: &&str| !v.is_empty();
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).filter(given).collect();
        if scopes.len() > 1 {
            return Error(400, "invalid_request"); // RFC 6749 §3.2: no repeated parameters
        }
        match self.auth {
            Auth::Both | Auth::BodyIdMismatch => return Error(400, "invalid_request"),
            Auth::Neither | Auth::EmptyPost => return Error(401, "invalid_client"),
            _ => {}
        }
        let Some(grant) = self.grant.filter(given) else {
            return Error(400, "invalid_request");
        };
        if matches!(self.auth, Auth::WrongSecret | Auth::UnknownClient) {
            return Error(401, "invalid_client");
        }
        if grant != "client_credentials" {
            return Error(400, "unsupported_grant_type");
        }
        let scope = match scopes.first() {
            None => vec![DEFAULT_SCOPE.to_owned()],
            Some(s) if s.trim().is_empty() => vec![DEFAULT_SCOPE.to_owned()],
            Some(s) => {
                let mut granted: Vec<String> = Vec::new();
                for token in s.split(' ').filter(|t| !t.is_empty()) {
                    if !ALLOWED_SCOPES.contains(&token) {
                        return Error(400, "invalid_scope");
                    }
                    if !granted.iter().any(|g| g == token) {
                        granted.push(token.to_owned());
                    }
                }
                granted
            }
        };
        // Every `resource`, then every `audience`. A `resource` must also be an absolute URI
        // without a fragment (RFC 8707 §2); among the allowed audiences only `billing` is not.
        let requested = ["resource", "audience"].iter().flat_map(|name| {
            self.resources.iter().filter(move |(n, v)| n == name && given(v)).map(|(n, v)| (*n, *v))
        });
        let mut audiences: Vec<String> = Vec::new();
        for (name, r) in requested {
            if !ALLOWED_AUDIENCES.contains(&r) || (name == "resource" && r == "billing") {
                return Error(400, "invalid_target");
            }
            if !audiences.iter().any(|a| a == r) {
                audiences.push(r.to_owned());
            }
        }
        if audiences.is_empty() {
            audiences.push(ALLOWED_AUDIENCES[0].to_owned());
        }
        let ttl = match self.expires_in.as_deref().filter(given).map(|e| e.trim().parse::<u64>()) {
            None => TTL,
            Some(Ok(n)) if n > 0 => n.min(TTL),
            Some(_) => return Error(400, "invalid_request"),
        };
        Expected::Token { scope, audiences, ttl }
    }

    /// Body parameters, in order.
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if let Some(g) = self.grant {
            p.push(("grant_type", g.to_owned()));
        }
        match self.auth {
            Auth::Post => {
                p.push(("client_id", "svc-a".to_owned()));
                p.push(("client_secret", SECRET_A.to_owned()));
            }
            Auth::BasicWithBodyId => p.push(("client_id", "svc-a".to_owned())),
            Auth::BodyIdMismatch => p.push(("client_id", "my-client".to_owned())),
            Auth::Both => p.push(("client_secret", SECRET_A.to_owned())),
            Auth::BasicWithEmptyBodySecret => p.push(("client_secret", String::new())),
            Auth::EmptyPost => {
                p.push(("client_id", String::new()));
                p.push(("client_secret", String::new()));
            }
            _ => {}
        }
        p.extend(self.scopes.iter().map(|s| ("scope", s.clone())));
        p.extend(self.resources.iter().map(|(n, v)| (*n, (*v).to_owned())));
        if let Some(e) = &self.expires_in {
            p.push(("expires_in", e.clone()));
        }
        p.extend(self.unknown.iter().cloned());
        p
    }

    /// The Basic credentials, if this case sends any.
    fn basic(&self) -> Option<(&'static str, &'static str)> {
        match self.auth {
            Auth::Basic
            | Auth::BasicWithBodyId
            | Auth::BodyIdMismatch
            | Auth::Both
            | Auth::BasicWithEmptyBodySecret => Some(("svc-a", SECRET_A)),
            Auth::WrongSecret => Some(("svc-a", WRONG_SECRET)),
            Auth::UnknownClient => Some(("nobody", SECRET_A)),
            Auth::Post | Auth::Neither | Auth::EmptyPost => None,
        }
    }

    /// The body, form-encoded or as a JSON object (repeated keys kept: RFC 6749 §3.2 applies
    /// to JSON too).
    fn body(&self) -> (&'static str, Vec<u8>) {
        let params = self.params();
        if !self.json {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &params {
                form.append_pair(k, v);
            }
            return ("application/x-www-form-urlencoded", form.finish().into_bytes());
        }
        let members: Vec<String> = params
            .iter()
            .map(|(k, v)| {
                // Whole numbers go as JSON numbers, as JSON clients send them.
                let value = match v.parse::<u32>() {
                    Ok(n) if *k == "expires_in" && n.to_string() == *v => json!(n),
                    _ => json!(v),
                };
                format!("{}:{value}", json!(k))
            })
            .collect();
        ("application/json", format!("{{{}}}", members.join(",")).into_bytes())
    }
}

/// A `scope` value: allowed, unknown and malformed tokens (RFC 6749 §3.3), with odd spacing.
fn scope_value(rng: &mut fastrand::Rng) -> String {
    let tokens: Vec<&str> = (0..rng.usize(..4))
        .map(|_| {
            if rng.u8(..6) == 0 {
                pick(rng, &["delete", "bad\"quote", "back\\slash", "read\twrite"])
            } else {
                pick(rng, &ALLOWED_SCOPES)
            }
        })
        .collect();
    let sep = pick(rng, &[" ", " ", "  "]);
    let lead = pick(rng, &["", "", " "]);
    format!("{lead}{}", tokens.join(sep))
}

/// Sends `body` with `content_type` and optional Basic credentials.
async fn post(app: &InProcess, content_type: &str, body: Vec<u8>, basic: Option<(&str, &str)>) -> Reply {
    let mut req = InProcess::token_req().header("content-type", content_type);
    if let Some((id, secret)) = basic {
        req = req.header("authorization", basic_header(id, secret));
    }
    app.request(req.body(body.into()).unwrap()).await
}

#[tokio::test]
async fn seeded_requests_get_exactly_the_answer_the_policy_model_predicts_rfc6749_5_rfc8707_2() {
    let app = InProcess::spawn().await;
    let jwks = app.jwks().await;
    let mut rng = fastrand::Rng::with_seed(0x7031_5eed);
    let (mut tokens, mut errors) = (0, 0);
    for i in 0..CASES {
        let case = Case::generate(&mut rng);
        let expected = case.expected();
        let (content_type, body) = case.body();
        let shown = String::from_utf8_lossy(&body).into_owned();
        let res = post(&app, content_type, body, case.basic()).await;
        let context = format!("case {i}: {case:?}\nbody: {shown}\nexpected: {expected:?}");
        match expected {
            Expected::Error(status, code) => {
                errors += 1;
                let status_seen = res.status.as_u16();
                let text = String::from_utf8_lossy(&res.body);
                assert_eq!(status_seen, status, "{context}\nanswer: {text}");
                let answer: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(answer["error"], code, "{context}\nanswer: {text}");
                let description = answer["error_description"].as_str();
                assert!(description.is_some(), "{context}");
                assert_conforming_description(description.unwrap_or_default());
                assert!(!text.contains(SECRET_A) && !text.contains(WRONG_SECRET), "{context}");
            }
            Expected::Token { scope, audiences, ttl } => {
                tokens += 1;
                assert_eq!(res.status, 200, "{context}\nanswer: {}", String::from_utf8_lossy(&res.body));
                assert_eq!(res.headers["cache-control"], "no-store", "RFC 6749 §5.1");
                let answer: Value = res.json();
                assert_eq!(answer["token_type"], "Bearer", "{context}");
                assert_eq!(answer["expires_in"], ttl, "{context}");
                assert_eq!(answer["scope"], scope.join(" "), "{context}");
                let token = answer["access_token"].as_str().unwrap();
                let claims = verify_with(&jwks, token, &audiences[0])
                    .unwrap_or_else(|e| panic!("{context}\ndoes not verify: {e}"));
                assert_eq!((claims.sub.as_str(), claims.client_id.as_str()), ("svc-a", "svc-a"), "{context}");
                assert_eq!(claims.scopes().collect::<Vec<_>>(), scope, "{context}");
                let aud = match claims.aud {
                    Audience::One(one) => vec![one],
                    Audience::Many(many) => many,
                };
                assert_eq!(aud, audiences, "{context}");
                assert_eq!(claims.exp - claims.iat, ttl, "{context}");
                assert_eq!(claims.extra["tenant"], "acme", "{context}");
            }
        }
    }
    // The sweep is only worth something if it reached both kinds of answer often.
    assert!(tokens >= CASES / 5 && errors >= CASES / 5, "{tokens} tokens, {errors} errors");
}

/// RFC 6749 §5.2's error codes, plus RFC 8707's `invalid_target`.
const ERROR_CODES: [&str; 7] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
];

/// Applies one to three random corruptions to `bytes`.
fn corrupt(rng: &mut fastrand::Rng, bytes: &mut Vec<u8>) {
    const INSERTS: [&[u8]; 8] = [b"%", b"%zz", b"&", b"=", b"\xff", b"\x00", b"+", b"%E2%82"];
    for _ in 0..rng.usize(1..=3) {
        let at = rng.usize(..=bytes.len());
        match rng.u8(..4) {
            0 if at < bytes.len() => bytes[at] = rng.u8(..),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 => bytes.truncate(at),
            _ => {
                let insert = pick(rng, &INSERTS);
                bytes.splice(at..at, insert.iter().copied());
            }
        }
    }
}

#[tokio::test]
async fn corrupted_requests_never_get_a_server_error_or_an_echoed_secret() {
    let app = InProcess::spawn().await;
    let jwks = app.jwks().await;
    let mut rng = fastrand::Rng::with_seed(0xbad_b17e5);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..CASES {
        let mut case = Case::generate(&mut rng);
        case.auth = pick(&mut rng, &[Auth::Basic, Auth::Post]);
        let (content_type, mut body) = case.body();
        corrupt(&mut rng, &mut body);
        let shown = String::from_utf8_lossy(&body).into_owned();
        let res = post(&app, content_type, body, case.basic()).await;
        let status = res.status.as_u16();
        *statuses.entry(status).or_insert(0) += 1;
        let text = String::from_utf8_lossy(&res.body);
        let context = format!("case {i}: {content_type} {shown:?}\nanswer {status}: {text}");
        assert!(status == 200 || (400..500).contains(&status), "{context}");
        // Corruption can move the secret into another parameter's value (a lost `&`), which
        // an error message may then quote; as `client_secret` alone it must never come back.
        let as_credential =
            [format!("client_secret={SECRET_A}"), format!("\"client_secret\":\"{SECRET_A}\"")];
        let only_as_credential = shown.matches(SECRET_A).count()
            == as_credential.iter().map(|c| shown.matches(c.as_str()).count()).sum::<usize>();
        if only_as_credential {
            assert!(!text.contains(SECRET_A), "the secret was echoed: {context}");
        }
        let answer: Map<String, Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {context}"));
        if status == 200 {
            let token = answer["access_token"].as_str().unwrap();
            let verified = ALLOWED_AUDIENCES.iter().any(|aud| verify_with(&jwks, token, aud).is_ok());
            assert!(verified, "the token does not verify: {context}");
        } else {
            let code = answer["error"].as_str().unwrap_or_default();
            assert!(ERROR_CODES.contains(&code), "{context}");
            // RFC 6749 §5.2: whatever bytes the corruption left, the description conforms.
            assert_conforming_description(answer["error_description"].as_str().unwrap_or_default());
        }
    }
    // Corruption must have produced refusals, and left some requests valid.
    assert!(statuses.get(&200).is_some_and(|n| *n > 0), "{statuses:?}");
    assert!(statuses.keys().any(|s| *s >= 400), "{statuses:?}");
}
