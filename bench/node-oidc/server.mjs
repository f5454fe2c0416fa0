// node-oidc-provider as the peer reference point of bench/run.sh (issue 5).
//
// Client credentials grant only, ES256 JWT access tokens (RFC 9068 style, through the
// resourceIndicators feature with accessTokenFormat 'jwt' and a default resource), one
// client authenticating with client_secret_basic. The signing key is generated at start.
// With a JWK Set file, a second client, `bench-pkjwt`, authenticates with private_key_jwt
// (ES256 assertions, `aud` the issuer) against the public keys of that file.
//
//   node server.mjs PORT [JWKS_FILE]  # listens on 127.0.0.1:PORT
//   curl -u bench:bench-secret -d grant_type=client_credentials http://127.0.0.1:PORT/token
//   curl http://127.0.0.1:PORT/jwks
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number.parseInt(process.argv[2] ?? '9100', 10);
const issuer = `http://127.0.0.1:${port}`;
const audience = 'https://api.example.com';

// One ES256 (P-256) signing key, as a private JWK for the provider's keystore.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256' };

const pkjwtClients = process.argv[3]
  ? [
      {
        client_id: 'bench-pkjwt',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        id_token_signed_response_alg: 'ES256',
        jwks: JSON.parse(readFileSync(process.argv[3], 'utf8')),
        scope: 'api:read',
      },
    ]
  : [];

const provider = new Provider(issuer, {
  clients: [
    ...pkjwtClients,
    {
      client_id: 'bench',
      client_secret: 'bench-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope: 'api:read',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['bench-cookie-key-not-secret'] },
  scopes: ['api:read'],
  ttl: { ClientCredentials: 300 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Requests name no resource: every token is for the one API.
      defaultResource: async () => audience,
      getResourceServerInfo: async () => ({
        scope: 'api:read',
        audience,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`node-oidc-provider listening on ${issuer} (token: /token, JWKS: /jwks)`);
});
