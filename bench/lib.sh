# Sourced by bench/ab.sh and bench/callgrind.sh: the bench client and its configuration.

# The bench client's secret (a benchmark's, never a deployment's).
BENCH_SECRET="bench-secret-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"

# one_client_config ISSUER KEYS_DIR SECRET_HASH: a configuration with the one client
# `bench` (ES256, 5-minute tokens, scope api:read), as bench/run.sh serves it, on stdout.
one_client_config() {
    cat <<TOML
issuer = "$1"

[server]
# No grace period on SIGTERM: the next server binds the same port at once.
shutdown_delay = "0s"

[tokens]
ttl = "5m"
algorithm = "ES256"

[keys]
dir = "$2"

[[clients]]
id = "bench"
secret_hashes = ["$3"]
scopes = ["api:read"]
default_scopes = ["api:read"]
audiences = ["https://api.example.com"]
TOML
}
