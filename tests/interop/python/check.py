#!/usr/bin/env python3
"""Python client libraries, unmodified, against a running tokenmint.

Run by tests/it/interop_libs.rs; usable by hand against any server:

    python3 tests/interop/python/check.py pyjwt --base-url http://127.0.0.1:8080 \
        --client-id demo --secret demo-secret --audience https://api.example.com \
        --issuer http://127.0.0.1:8080

Modes:
  pyjwt                  fetch a token (plain requests), verify it with PyJWT + PyJWKClient
  authlib-basic          fetch with Authlib's OAuth2Session (client_secret_basic),
                         verify with authlib.jose; --pre-encode form-encodes id and secret
                         first (RFC 6749 §2.3.1), which Authlib does not do by itself
  authlib-post           the same with client_secret_post
  authlib-pkjwt          the same with private_key_jwt (Authlib's PrivateKeyJWT, RFC 7523
                         §2.2), signing with the PKCS#8 key in --key-file (--key-alg)
  keygen                 make a key pair for --key-alg (ES256 or RS256): the private key
                         to --key-file, the public JWK Set (kid "py-<alg>") to stdout
  --check-deps           exit 0 when every library imports, 3 otherwise

Prints the verified claims as one line of JSON on success. Exit codes: 0 verified,
1 an interop failure (message on stderr), 2 usage, 3 libraries missing.
"""

import argparse
import json
import sys
import warnings
from urllib.parse import quote_plus

DEPS_MISSING = 3
INSTALL_HINT = "python3 -m pip install -r tests/interop/python/requirements.txt"

try:
    import jwt
    import requests

    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from joserfc.jwk import ECKey, RSAKey

    # authlib.jose is deprecated in favour of joserfc, but it is what Authlib users run today.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.jose import JsonWebKey, JsonWebToken
except ImportError as e:
    print(f"missing Python library ({e}); run `{INSTALL_HINT}`", file=sys.stderr)
    sys.exit(DEPS_MISSING)

TIMEOUT = 10  # seconds, for every HTTP call
# RFC 9068 §2.2: the claims every access token carries.
REQUIRED = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]


class InteropError(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise InteropError(what)


def token_request_params(args):
    """RFC 8707 resource and RFC 6749 §3.3 scope, when asked for."""
    params = {"resource": args.audience}
    if args.scope:
        params["scope"] = args.scope
    return params


def check_token_response(body, args):
    """RFC 6749 §5.1."""
    expect(body.get("token_type", "").lower() == "bearer", f"token_type: {body}")
    expect(isinstance(body.get("expires_in"), int), f"expires_in: {body}")
    if args.scope:
        expect(body.get("scope") == args.scope, f"granted scope: {body}")
    return body["access_token"]


def pyjwt(args):
    res = requests.post(
        f"{args.base_url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": args.client_id,
            "client_secret": args.secret,
            **token_request_params(args),
        },
        timeout=TIMEOUT,
    )
    expect(res.status_code == 200, f"token endpoint: {res.status_code} {res.text}")
    token = check_token_response(res.json(), args)

    jwks = jwt.PyJWKClient(f"{args.base_url}/.well-known/jwks.json", cache_keys=True, timeout=TIMEOUT)
    key = jwks.get_signing_key_from_jwt(token)

    def decode(audience, issuer):
        # RFC 9068 §4: pinned algorithm, exact issuer, our audience, required claims.
        return jwt.decode_complete(
            token,
            key,
            algorithms=[args.alg],
            audience=audience,
            issuer=issuer,
            options={"require": REQUIRED},
        )

    verified = decode(args.audience, args.issuer)
    # RFC 9068 §2.1 / §4 step 1: the verified header says at+jwt.
    expect(verified["header"].get("typ") == "at+jwt", f"typ: {verified['header']}")
    expect(verified["header"].get("alg") == args.alg, f"alg: {verified['header']}")
    # The verifier is not vacuous: a wrong audience or issuer is refused.
    for aud, iss in [(args.audience + "/other", args.issuer), (args.audience, args.issuer + "/other")]:
        try:
            decode(aud, iss)
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
            continue
        raise InteropError(f"PyJWT accepted aud={aud} iss={iss}")
    return verified["payload"]


def keygen(args):
    """A fresh key pair: PKCS#8 PEM to --key-file, the public JWK Set to stdout."""
    if args.key_alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
        public = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with open(args.key_file, "wb") as f:
        f.write(pem)
    public.update({"kid": f"py-{args.key_alg.lower()}", "alg": args.key_alg, "use": "sig"})
    return {"keys": [public]}


def authlib(args, auth_method):
    client_id, secret = args.client_id, args.secret
    if args.pre_encode:
        # Authlib sends Basic credentials unencoded (its RFC 6749 §2.3.1 encoding was reverted,
        # authlib/authlib#594); its maintainers advise callers to encode them first.
        client_id, secret = quote_plus(client_id), quote_plus(secret)
    if auth_method == "private_key_jwt":
        # Authlib's documented use: the private key as the client secret, PrivateKeyJWT
        # registered for the token endpoint (RFC 7523 §2.2). It signs with the key's kid unset
        # and aud the token endpoint URL; each request gets a fresh jti.
        with open(args.key_file, "rb") as f:
            pem = f.read()
        key_type = ECKey if args.key_alg == "ES256" else RSAKey
        secret = key_type.import_key(pem)
        session = OAuth2Session(client_id, secret, token_endpoint_auth_method=auth_method)
        session.register_client_auth_method(PrivateKeyJWT(f"{args.base_url}/oauth2/token", alg=args.key_alg))
    else:
        session = OAuth2Session(client_id, secret, token_endpoint_auth_method=auth_method)
    token = session.fetch_token(
        f"{args.base_url}/oauth2/token",
        grant_type="client_credentials",
        timeout=TIMEOUT,
        **token_request_params(args),
    )
    access_token = check_token_response(token, args)

    jwks = requests.get(f"{args.base_url}/.well-known/jwks.json", timeout=TIMEOUT)
    expect(jwks.status_code == 200, f"JWKS: {jwks.status_code}")
    key_set = JsonWebKey.import_key_set(jwks.json())
    # RFC 9068 §4: pinned algorithm, exact issuer, our audience, required claims.
    claims = JsonWebToken([args.alg]).decode(
        access_token,
        key_set,
        claims_options={
            "iss": {"essential": True, "value": args.issuer},
            "aud": {"essential": True, "value": args.audience},
            **{name: {"essential": True} for name in REQUIRED if name not in ("iss", "aud")},
        },
    )
    claims.validate()
    expect(claims.header.get("typ") == "at+jwt", f"typ: {claims.header}")
    return dict(claims)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "mode", nargs="?", choices=["pyjwt", "authlib-basic", "authlib-post", "authlib-pkjwt", "keygen"]
    )
    parser.add_argument("--check-deps", action="store_true")
    parser.add_argument("--base-url")
    parser.add_argument("--client-id")
    parser.add_argument("--secret")
    parser.add_argument("--audience")
    parser.add_argument("--issuer")
    parser.add_argument("--scope", help="space-delimited scopes to ask for (default: the client's)")
    parser.add_argument("--alg", default="ES256", help="the one algorithm to accept")
    parser.add_argument(
        "--pre-encode", action="store_true", help="authlib-basic: form-encode id and secret first"
    )
    parser.add_argument("--key-file", help="authlib-pkjwt and keygen: the PKCS#8 PEM private key")
    parser.add_argument("--key-alg", default="ES256", choices=["ES256", "RS256"])
    args = parser.parse_args()
    if args.check_deps:
        return 0
    if args.mode == "keygen":
        if not args.key_file:
            parser.error("keygen needs --key-file")
        print(json.dumps(keygen(args)))
        return 0
    missing = [a for a in ("base_url", "client_id", "secret", "audience", "issuer") if not getattr(args, a)]
    if args.mode is None or missing:
        parser.error("a mode, --base-url, --client-id, --secret, --audience and --issuer are required")
    args.base_url = args.base_url.rstrip("/")

    try:
        if args.mode == "pyjwt":
            claims = pyjwt(args)
        elif args.mode == "authlib-basic":
            claims = authlib(args, "client_secret_basic")
        elif args.mode == "authlib-pkjwt":
            claims = authlib(args, "private_key_jwt")
        else:
            claims = authlib(args, "client_secret_post")
    except Exception as e:  # any library error is an interop failure, reported plainly
        print(f"{args.mode}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
