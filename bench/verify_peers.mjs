// The Node side of bench/verify-peers.sh: verifies DIR/token.txt N times with jose (key
// imported once; algorithm, issuer, audience, typ) and prints microseconds per verification.
//
//   node bench/verify_peers.mjs DIR N
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../tests/interop/node/package.json", import.meta.url));
const jose = await import(require.resolve("jose"));
const [dir, count] = process.argv.slice(2);
const n = Number.parseInt(count, 10);
const token = readFileSync(`${dir}/token.txt`, "utf8").trim();
const jwk = JSON.parse(readFileSync(`${dir}/jwks.json`, "utf8")).keys[0];
const key = await jose.importJWK(jwk, "ES256");
const options = {
  algorithms: ["ES256"],
  issuer: "https://tokens.example.com",
  audience: "https://api.example.com",
  typ: "at+jwt",
};
for (let i = 0; i < Math.min(n / 10, 1000); i++) await jose.jwtVerify(token, key, options);
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) await jose.jwtVerify(token, key, options);
console.log((Number(process.hrtime.bigint() - start) / n / 1000).toFixed(1));
