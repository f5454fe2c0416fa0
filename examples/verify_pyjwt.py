"""Verify a tokenmint access token in Python with PyJWT (pip install "pyjwt[crypto]").

Usage: python3 examples/verify_pyjwt.py ISSUER AUDIENCE TOKEN
Prints the claims as JSON and exits 0, or prints why the token is invalid and exits 1.
docs/verifying.md shows this file; tests/it/interop_libs.rs runs it against the real server.
"""
import json
import sys

import jwt

# Create once and reuse: PyJWKClient caches the JWKS and refetches on an unknown kid.
_clients = {}


def verify(token: str, issuer: str, audience: str) -> dict:
    if issuer not in _clients:
        _clients[issuer] = jwt.PyJWKClient(issuer + "/.well-known/jwks.json", cache_keys=True)
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":  # RFC 9068 §4
        raise jwt.InvalidTokenError("typ is not at+jwt")
    key = _clients[issuer].get_signing_key_from_jwt(token)  # the token's kid selects the key
    return jwt.decode(
        token,
        key,
        algorithms=["ES256"],  # pin what your issuer signs with; never trust the header alone
        audience=audience,
        issuer=issuer,
        leeway=30,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )


if __name__ == "__main__":
    issuer, audience, token = sys.argv[1:4]
    try:
        print(json.dumps(verify(token, issuer, audience)))
    except jwt.PyJWTError as e:
        print(f"invalid: {e}", file=sys.stderr)
        sys.exit(1)
