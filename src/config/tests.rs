use super::*;

const HASH: &str = "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

fn client(extra: &str) -> String {
    format!(
        "[[clients]]\nid = \"billing\"\nsecret_hashes = [\"{HASH}\"]\nscopes = [\"a\", \"b\"]\n\
         default_scopes = [\"a\"]\naudiences = [\"https://api.example\"]\n{extra}\n"
    )
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(c.issuer, "http://127.0.0.1:8080");
    assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.tokens.ttl, Duration::from_secs(300));
    assert_eq!(c.tokens.max_ttl, Duration::from_secs(3600));
    assert_eq!(c.keys.jwks_max_age, Duration::from_secs(300));
    assert_eq!(c.enabled_grants, GrantType::ALL);
}

#[test]
fn human_durations_and_a_full_client_parse() {
    let toml = format!(
        "[tokens]\nttl = \"2m\"\nmax_ttl = \"30m\"\nalgorithm = \"EdDSA\"\n{}",
        client("ttl = \"10m\"\nclaims = { tenant = \"acme\" }")
    );
    let c = Config::from_toml(&toml).unwrap();
    assert_eq!(c.tokens.ttl, Duration::from_secs(120));
    assert_eq!(c.clients.len(), 1);
    assert_eq!(c.clients[0].ttl, Some(Duration::from_secs(600)));
    assert_eq!(c.clients[0].default_scope, "a");
    assert_eq!(c.clients[0].claims["tenant"], "acme");
}

#[test]
fn every_error_is_reported_at_once() {
    let toml = format!(
        "bogus = 1\nissuer = \"not a url\"\n[tokens]\nttl = \"2h\"\nmax_ttl = \"1h\"\nleeway = \"1h\"\n\
         [server]\ncolour = \"blue\"\n[grants]\ndisabled = [\"implicit\"]\n{}{}",
        client("claims = { iss = \"evil\" }\ngrant_types = [\"implicit\"]"),
        "[[clients]]\nid = \"plain\"\nsecret_hashes = [\"hunter2\"]\naudiences = []\n",
    );
    let err = Config::from_toml(&toml).unwrap_err();
    let text = err.to_string();
    for needle in [
        "unknown setting `bogus`",
        "issuer `not a url`",
        "colour",
        "max_ttl",
        "leeway",
        "unknown grant type `implicit`",
        "claim `iss` is a registered claim",
        "unsupported grant type `implicit`",
        "plaintext secrets are not accepted",
        "`audiences` must list at least one",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(err.errors.len() >= 10, "{text}");
}

#[test]
fn duplicate_client_ids_are_refused() {
    let toml = format!("{}{}", client(""), client(""));
    let err = Config::from_toml(&toml).unwrap_err();
    assert!(err.to_string().contains("configured more than once"));
}

#[test]
fn default_scopes_must_be_allowed() {
    let toml = client("").replace("default_scopes = [\"a\"]", "default_scopes = [\"z\"]");
    let err = Config::from_toml(&toml).unwrap_err();
    assert!(err.to_string().contains("default scope `z`"));
}

#[test]
fn the_shipped_configs_are_valid() {
    for path in ["config/tokenmint.toml", "config/example.toml"] {
        let text = std::fs::read_to_string(path).unwrap();
        Config::from_toml(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[test]
fn users_parse_and_need_argon2id() {
    let toml = format!(
        "{}[[users]]\nusername = \"alice\"\npassword_hash = \"{HASH}\"\n\
         [[users]]\nusername = \"bob\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$xvXCl2DEFqFjoJabKCq7qA$ESLBK9Q23EuQfmvequbFQ3q6h9o9DMx+ott7wJGB3y4\"\n\
         scopes = [\"profile\"]\nclaims = {{ email = \"bob@example.com\" }}\n",
        client("")
    );
    let err = Config::from_toml(&toml).unwrap_err();
    assert!(
        err.to_string().contains("users[0] (username `alice`): `password_hash` must be argon2id"),
        "{err}"
    );
    let ok = toml.replace(&format!("password_hash = \"{HASH}\""), "password_hash = \"$argon2id$v=19$m=19456,t=2,p=1$xvXCl2DEFqFjoJabKCq7qA$ESLBK9Q23EuQfmvequbFQ3q6h9o9DMx+ott7wJGB3y4\"");
    let c = Config::from_toml(&ok).unwrap();
    assert_eq!(c.users.len(), 2);
}

#[test]
fn refresh_token_without_password_is_refused() {
    let toml = client("grant_types = [\"client_credentials\", \"refresh_token\"]");
    let err = Config::from_toml(&toml).unwrap_err();
    assert!(err.to_string().contains("`refresh_token` needs `password`"), "{err}");
}

#[test]
fn trusted_proxies_take_addresses_and_ranges_and_name_a_bad_entry() {
    let c =
        Config::from_toml("[server]\ntrusted_proxies = [\"10.0.0.7\", \"10.0.0.0/8\", \"2001:db8::/32\"]\n")
            .unwrap();
    let nets: Vec<String> = c.server.trusted_proxies.iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["10.0.0.7/32", "10.0.0.0/8", "2001:db8::/32"]);
    let err =
        Config::from_toml("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.local\"]\n").unwrap_err();
    assert!(err.to_string().contains("`proxy.local` is not an IP address or a CIDR range"), "{err}");
}

#[test]
fn absurd_durations_are_refused_without_overflowing() {
    let toml = "[tokens]\nttl = \"300000000000y\"\nmax_ttl = \"300000000000y\"\nrefresh_ttl = \"11y\"\n\
                [keys]\njwks_max_age = \"300000000000y\"\npoll_interval = \"300000000000y\"\n\
                publish_ahead = \"300000000000y\"\nrotate_every = \"300000000000y\"\n";
    let text = Config::from_toml(toml).unwrap_err().to_string();
    for name in [
        "tokens.ttl",
        "tokens.max_ttl",
        "tokens.refresh_ttl",
        "keys.jwks_max_age",
        "keys.publish_ahead",
        "keys.rotate_every",
        "keys.poll_interval",
    ] {
        assert!(text.contains(&format!("{name} must be at most 10 years")), "missing {name} in:\n{text}");
    }
    // Ten years is still fine.
    let ok = "[tokens]\nmax_ttl = \"3650d\"\nrefresh_ttl = \"3650d\"\n";
    Config::from_toml(ok).unwrap();
    let text =
        Config::from_toml("[server]\nheader_read_timeout = \"300000000000y\"\n").unwrap_err().to_string();
    assert!(text.contains("server.header_read_timeout must be at most 10 years"), "{text}");
}

#[test]
fn connection_limits_parse_and_default() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(c.server.header_read_timeout, DEFAULT_HEADER_READ_TIMEOUT);
    assert_eq!(c.server.max_connections, None);
    let c =
        Config::from_toml("[server]\nheader_read_timeout = \"2s 500ms\"\nmax_connections = 512\n").unwrap();
    assert_eq!(c.server.header_read_timeout, Duration::from_millis(2500));
    assert_eq!(c.server.max_connections, Some(512));
}

#[test]
fn connection_limits_must_be_positive() {
    let err = Config::from_toml("[server]\nheader_read_timeout = \"0s\"\nmax_connections = 0\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("server.header_read_timeout must be longer than zero"), "{text}");
    assert!(text.contains("server.max_connections must be at least 1"), "{text}");
    let err = Config::from_toml("[server]\nheader_read_timeout = \"soon\"\n").unwrap_err();
    assert!(err.to_string().contains("server.header_read_timeout"), "{err}");
}

#[test]
fn a_client_id_equal_to_a_username_is_refused_naming_both_rfc9068_2_2() {
    let argon =
        "$argon2id$v=19$m=19456,t=2,p=1$xvXCl2DEFqFjoJabKCq7qA$ESLBK9Q23EuQfmvequbFQ3q6h9o9DMx+ott7wJGB3y4";
    let user = |name: &str| format!("[[users]]\nusername = \"{name}\"\npassword_hash = \"{argon}\"\n");
    let err = Config::from_toml(&format!("{}{}", client(""), user("billing"))).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert!(err.errors[0].to_string().contains("client `billing` and user `billing`"), "{err}");
    // A disabled user collides all the same: enabling it again must not need a new check.
    let disabled = format!("{}{}enabled = false\n", client(""), user("billing"));
    assert!(Config::from_toml(&disabled).is_err());
    // Names are compared exactly, as `sub` is.
    Config::from_toml(&format!("{}{}", client(""), user("Billing"))).unwrap();
}

#[test]
fn introspection_members_are_refused_as_claims_rfc7662_2_2() {
    let argon =
        "$argon2id$v=19$m=19456,t=2,p=1$xvXCl2DEFqFjoJabKCq7qA$ESLBK9Q23EuQfmvequbFQ3q6h9o9DMx+ott7wJGB3y4";
    let toml = format!(
        "{}[[users]]\nusername = \"alice\"\npassword_hash = \"{argon}\"\nclaims = {{ token_type = \"x\" }}\n",
        client("claims = { active = false }")
    );
    let text = Config::from_toml(&toml).unwrap_err().to_string();
    assert!(text.contains("claim `active` is a registered claim"), "{text}");
    assert!(text.contains("claim `token_type` is a registered claim"), "{text}");
}

#[test]
fn plain_http_off_loopback_is_warned_about_and_tls_settings_default_to_a_tls_secret_rfc6749_3_2() {
    assert!(Config::from_toml("").unwrap().warnings().is_empty());
    let exposed = Config::from_toml("[server]\nbind = \"0.0.0.0:8080\"").unwrap();
    let warnings = exposed.warnings();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("0.0.0.0:8080") && warnings[0].contains("TLS"), "{warnings:?}");
    let tls = Config::from_toml("[server]\nbind = \"0.0.0.0:8443\"\n[server.tls]\n").unwrap();
    assert!(tls.warnings().is_empty());
    let files = tls.server.tls.unwrap();
    assert_eq!(
        (files.cert_file.to_str(), files.key_file.to_str()),
        (Some("tls/tls.crt"), Some("tls/tls.key"))
    );
    assert_eq!(tls.server.shutdown_delay, DEFAULT_SHUTDOWN_DELAY);
    for (toml, needle) in [
        ("[server]\nmax_concurrent_streams = 0", "max_concurrent_streams"),
        ("[server.tls]\ncert = \"x\"", "unknown field: found `cert`"),
    ] {
        let text = Config::from_toml(toml).unwrap_err().to_string();
        assert!(text.contains(needle), "{text}");
    }
}
