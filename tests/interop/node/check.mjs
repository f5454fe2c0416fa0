#!/usr/bin/env node
// Node client libraries, unmodified, against a running tokenmint.
//
// Run by tests/it/interop_libs.rs; usable by hand against any server:
//
//   node tests/interop/node/check.mjs jose --base-url http://127.0.0.1:8080 \
//     --client-id demo --secret demo-secret --audience https://api.example.com \
//     --issuer http://127.0.0.1:8080
//
// Modes:
//   jose            fetch a token (plain fetch, client_secret_basic), verify it with jose
//   openid-client   discovery() at --issuer (--discovery oidc|oauth2), clientCredentialsGrant()
//                   with ClientSecretBasic, then verify with jose from the discovered jwks_uri
//   openid-client-pkjwt  the same with PrivateKeyJwt (RFC 7523 §2.2), signing with the PKCS#8
//                   key in --key-file (--key-alg ES256|RS256, kid "node-<alg>")
//   keygen          make a key pair for --key-alg: the private key to --key-file, the public
//                   JWK Set to stdout
//   --check-deps    exit 0 when every library imports, 3 otherwise
//
// Prints the verified claims as one line of JSON on success. Exit codes: 0 verified,
// 1 an interop failure (message on stderr), 2 usage, 3 libraries missing.

import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

const DEPS_MISSING = 3;
const INSTALL_HINT = "npm ci --prefix tests/interop/node";
const TIMEOUT_MS = 10_000; // for every HTTP call

let jose, oidc;
try {
  jose = await import("jose");
  oidc = await import("openid-client");
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
  console.error(`missing Node library (${e.message}); run \`${INSTALL_HINT}\``);
  process.exit(DEPS_MISSING);
}

class InteropError extends Error {}

function expect(cond, what) {
  if (!cond) throw new InteropError(what);
}

function usage(message) {
  console.error(`check.mjs: ${message}\nusage: node check.mjs jose|openid-client --base-url URL `
    + "--client-id ID --secret S --audience AUD --issuer ISS [--scope S] [--alg ALG] "
    + "[--discovery oidc|oauth2] | --check-deps");
  process.exit(2);
}

/** RFC 6749 §5.1. */
function checkTokenResponse(body, args) {
  expect(body.token_type?.toLowerCase() === "bearer", `token_type: ${JSON.stringify(body)}`);
  expect(Number.isInteger(body.expires_in), `expires_in: ${JSON.stringify(body)}`);
  if (args.scope) expect(body.scope === args.scope, `granted scope: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** RFC 8707 resource and RFC 6749 §3.3 scope, when asked for. */
function tokenRequestParams(args) {
  return { resource: args.audience, ...(args.scope ? { scope: args.scope } : {}) };
}

/** RFC 9068 §4 with jose: pinned algorithm, exact issuer, our audience, typ at+jwt (§2.1). */
async function verify(token, jwksUri, args) {
  const jwks = jose.createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: TIMEOUT_MS });
  const options = {
    issuer: args.issuer,
    audience: args.audience,
    algorithms: [args.alg],
    typ: "at+jwt",
    // RFC 9068 §2.2: the claims every access token carries.
    requiredClaims: ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"],
  };
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, options);
  expect(protectedHeader.alg === args.alg, `alg: ${JSON.stringify(protectedHeader)}`);
  // The verifier is not vacuous: a wrong audience, issuer or typ is refused.
  for (const wrong of [
    { audience: `${args.audience}/other` },
    { issuer: `${args.issuer}/other` },
    { typ: "JWT" },
  ]) {
    const refused = await jose.jwtVerify(token, jwks, { ...options, ...wrong }).then(
      () => false,
      (e) => e instanceof jose.errors.JWTClaimValidationFailed,
    );
    expect(refused, `jose accepted ${JSON.stringify(wrong)}`);
  }
  return payload;
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined and base64-encoded. */
function basicAuth(id, secret) {
  const form = (s) => new URLSearchParams({ s }).toString().slice(2);
  return `Basic ${Buffer.from(`${form(id)}:${form(secret)}`).toString("base64")}`;
}

async function withJose(args) {
  const res = await fetch(`${args.baseUrl}/oauth2/token`, {
    method: "POST",
    headers: { authorization: basicAuth(args.clientId, args.secret) },
    body: new URLSearchParams({ grant_type: "client_credentials", ...tokenRequestParams(args) }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const body = await res.json();
  expect(res.status === 200, `token endpoint: ${res.status} ${JSON.stringify(body)}`);
  return verify(checkTokenResponse(body, args), `${args.baseUrl}/.well-known/jwks.json`, args);
}

/** The kid of this script's keys for `alg`. */
const kidOf = (alg) => `node-${alg.toLowerCase()}`;

/** A fresh key pair: PKCS#8 PEM to --key-file; returns the public JWK Set. */
async function keygen(args) {
  const { publicKey, privateKey } = await jose.generateKeyPair(args.keyAlg, { extractable: true });
  await writeFile(args.keyFile, await jose.exportPKCS8(privateKey));
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: kidOf(args.keyAlg), alg: args.keyAlg, use: "sig" };
  return { keys: [jwk] };
}

/** How openid-client authenticates: ClientSecretBasic, or PrivateKeyJwt with --key-file. */
async function clientAuth(args) {
  if (!args.keyFile) return oidc.ClientSecretBasic(args.secret);
  const key = await jose.importPKCS8(await readFile(args.keyFile, "utf8"), args.keyAlg);
  return oidc.PrivateKeyJwt({ key, kid: kidOf(args.keyAlg) });
}

async function withOpenidClient(args) {
  // RFC 8414 §3 (oauth2) or OpenID Connect Discovery (oidc); the issuer must match exactly.
  const config = await oidc.discovery(
    new URL(args.issuer),
    args.clientId,
    undefined,
    await clientAuth(args),
    {
      algorithm: args.discovery,
      execute: [oidc.allowInsecureRequests], // the test server speaks plain http
      timeout: TIMEOUT_MS / 1000,
    },
  );
  const metadata = config.serverMetadata();
  expect(metadata.issuer === args.issuer, `discovered issuer: ${metadata.issuer}`);
  const tokens = await oidc.clientCredentialsGrant(config, tokenRequestParams(args));
  return verify(checkTokenResponse(tokens, args), metadata.jwks_uri, args);
}

async function main() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        "check-deps": { type: "boolean" },
        "base-url": { type: "string" },
        "client-id": { type: "string" },
        secret: { type: "string" },
        audience: { type: "string" },
        issuer: { type: "string" },
        scope: { type: "string" },
        alg: { type: "string", default: "ES256" },
        discovery: { type: "string", default: "oidc" },
        "key-file": { type: "string" },
        "key-alg": { type: "string", default: "ES256" },
      },
    });
  } catch (e) {
    usage(e.message);
  }
  const { values, positionals } = parsed;
  if (values["check-deps"]) return 0;
  const mode = positionals[0];
  if (mode === "keygen") {
    if (!values["key-file"]) usage("keygen needs --key-file");
    console.log(JSON.stringify(await keygen({ keyFile: values["key-file"], keyAlg: values["key-alg"] })));
    return 0;
  }
  const required = ["base-url", "client-id", "secret", "audience", "issuer"];
  if (!["jose", "openid-client", "openid-client-pkjwt"].includes(mode) || positionals.length !== 1
    || required.some((k) => !values[k])) {
    usage("a mode (jose, openid-client or openid-client-pkjwt) and --" + required.join(", --") + " are required");
  }
  if (!["oidc", "oauth2"].includes(values.discovery)) usage("--discovery is oidc or oauth2");
  const args = {
    baseUrl: values["base-url"].replace(/\/+$/, ""),
    clientId: values["client-id"],
    secret: values.secret,
    audience: values.audience,
    issuer: values.issuer,
    scope: values.scope,
    alg: values.alg,
    discovery: values.discovery,
    keyFile: mode === "openid-client-pkjwt" ? values["key-file"] : undefined,
    keyAlg: values["key-alg"],
  };
  if (mode === "openid-client-pkjwt" && !args.keyFile) usage("openid-client-pkjwt needs --key-file");
  try {
    const claims = mode === "jose" ? await withJose(args) : await withOpenidClient(args);
    console.log(JSON.stringify(claims));
    return 0;
  } catch (e) {
    // Any library error is an interop failure, reported plainly (with the library's code).
    const code = e.code ? ` [${e.code}]` : "";
    const cause = e.cause ? `\ncause: ${JSON.stringify(e.cause)}` : "";
    console.error(`${mode}: ${e.name}${code}: ${e.message}${cause}`);
    return 1;
  }
}

process.exitCode = await main();
