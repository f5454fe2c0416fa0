"""Verify an OpenID Connect ID token from tokenmint with PyJWT, independently of tokenmint.

Usage: python3 id_token.py JWKS_URI ISSUER CLIENT_ID ID_TOKEN
Prints the verified claims as JSON, or the library's error on stderr with exit code 1.
"""
import json
import sys

import jwt


def main() -> int:
    jwks_uri, issuer, client_id, token = sys.argv[1:5]
    key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            audience=client_id,  # OpenID Connect Core §2: aud is the client
            issuer=issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]},
        )
    except jwt.PyJWTError as e:
        print(f"invalid ID token: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
