#!/usr/bin/env bash
# Verification side by side (issue 20), on one core and one ES256 token: tokenmint::verify
# uncached and with its verified-token cache, jsonwebtoken::decode (criterion,
# benches/verify.rs reading the token of VERIFY_PEERS_DIR), PyJWT and jose (the versions the
# interop tests install). Prints a markdown table. Not part of CI.
#
#   bench/verify-peers.sh            # from the repository root; N=20000 verifications per peer
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-20000}"
CORE="${CORE:-1}"
DIR="$(mktemp -d /tmp/tokenmint-verify-peers.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT

python3 -m pip install -q -r tests/interop/python/requirements.txt >&2
npm ci --prefix tests/interop/node >&2
python3 bench/verify_peers.py make "$DIR"

VERIFY_PEERS_DIR="$DIR" taskset -c "$CORE" cargo bench --bench verify -- peers 2>/dev/null >"$DIR/criterion.txt"
# criterion's median estimate, in microseconds.
rust() {
    # "NAME  time: [low unit median unit high unit]", on one line or two.
    awk -v name="verify/peers/$1" '
        $1 == name { found = 1 }
        found && /time:/ {
            for (i = 1; i <= NF; i++) if ($i == "time:") { v = $(i + 3); u = $(i + 4) }
            if (u == "ns") v /= 1000
            if (u == "ms") v *= 1000
            print v
            exit
        }
    ' "$DIR/criterion.txt"
}
uncached="$(rust tokenmint_verify)"
cached="$(rust tokenmint_verify_cached_hit)"
decode="$(rust jsonwebtoken_decode)"
pyjwt="$(taskset -c "$CORE" python3 bench/verify_peers.py pyjwt "$DIR" "$N")"
jose="$(taskset -c "$CORE" node bench/verify_peers.mjs "$DIR" "$N")"

echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1); one core (taskset -c $CORE); one ES256 token"
echo
echo "| verifier | µs per verification | ÷ tokenmint::verify uncached |"
echo "|---|---:|---:|"
for row in "tokenmint::verify, cached hit@$cached" "tokenmint::verify, uncached@$uncached" \
    "jsonwebtoken::decode@$decode" "PyJWT $(python3 -c 'import jwt; print(jwt.__version__)')@$pyjwt" \
    "jose $(node -p "require('./tests/interop/node/node_modules/jose/package.json').version")@$jose"; do
    name="${row%@*}"
    value="${row##*@}"
    echo "| $name | $value | $(awk -v a="$value" -v b="$uncached" 'BEGIN { printf "%.2f", a / b }') |"
done
