#!/usr/bin/env python3
"""The Python side of bench/verify-peers.sh.

  verify_peers.py make DIR      an ES256 key pair, its JWK Set (DIR/jwks.json) and one RFC 9068
                                access token (DIR/token.txt) signed with it
  verify_peers.py pyjwt DIR N   verifies DIR/token.txt N times with PyJWT (key parsed once, as
                                PyJWKClient caches it; algorithm, issuer, audience, required
                                claims) and prints microseconds per verification
"""

import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://tokens.example.com"
AUDIENCE = "https://api.example.com"


def make(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    public = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    public.update({"kid": "peers-1", "alg": "ES256", "use": "sig"})
    now = int(time.time())
    claims = {
        "iss": ISSUER, "sub": "billing", "aud": AUDIENCE, "exp": now + 3 * 3600, "iat": now, "nbf": now,
        "jti": "c2VjcmV0LWp0aS0xMjM0NQ", "client_id": "billing", "scope": "invoices:read invoices:write",
        "tenant": "acme",
    }
    token = jwt.encode(claims, key, algorithm="ES256", headers={"typ": "at+jwt", "kid": "peers-1"})
    with open(f"{directory}/jwks.json", "w") as f:
        json.dump({"keys": [public]}, f)
    with open(f"{directory}/token.txt", "w") as f:
        f.write(token)


def pyjwt(directory, n):
    with open(f"{directory}/token.txt") as f:
        token = f.read().strip()
    with open(f"{directory}/jwks.json") as f:
        key = jwt.PyJWK(json.load(f)["keys"][0])
    required = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]
    verify = lambda: jwt.decode(  # noqa: E731
        token, key, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER, options={"require": required}
    )
    for _ in range(min(n // 10, 1000)):
        verify()
    start = time.perf_counter()
    for _ in range(n):
        verify()
    print(f"{(time.perf_counter() - start) / n * 1e6:.1f}")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        pyjwt(sys.argv[2], int(sys.argv[3]))
