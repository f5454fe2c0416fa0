# Sourced by bench/run.sh, bench/ab.sh, bench/tls.sh and bench/callgrind.sh: the bench client and the
# configuration it is served with.

# The bench client's secret (a benchmark's, never a deployment's).
BENCH_SECRET="bench-secret-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"

# The form body of the measured token requests.
TOKEN_FORM="grant_type=client_credentials&scope=api:read"

# config_header ISSUER KEYS_DIR: the service's settings (ES256, 5-minute tokens, no shutdown
# delay), no client yet, on stdout.
config_header() {
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

TOML
}

# bench_client ID SECRET_HASH: a client with scope api:read for https://api.example.com.
bench_client() {
    cat <<TOML
[[clients]]
id = "$1"
secret_hashes = ["$2"]
scopes = ["api:read"]
default_scopes = ["api:read"]
audiences = ["https://api.example.com"]

TOML
}

# one_client_config ISSUER KEYS_DIR SECRET_HASH: the configuration with the one client
# `bench`, as bench/run.sh measures it.
one_client_config() {
    config_header "$1" "$2"
    bench_client bench "$3"
}
