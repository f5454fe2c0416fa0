#!/bin/sh
# Assembles the container image's root file system in DEST: the tokenmint binary at
# /tokenmint, the shared libraries it links (as ldd lists them: glibc, libm, libgcc_s and
# the loader; aws-lc is linked in statically), and the empty directories the configuration
# names by default (/etc/tokenmint/{config,keys,tls}, mount points). Nothing else: no shell,
# no package manager, no CA bundle (the service makes no outgoing TLS connection).
# Used by the Containerfile's build stage and by tests/it/image.rs.
set -eu
bin=$1
dest=$2
mkdir -p "$dest/etc/tokenmint/config" "$dest/etc/tokenmint/keys" "$dest/etc/tokenmint/tls"
cp "$bin" "$dest/tokenmint"
chmod 0755 "$dest/tokenmint"
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
    mkdir -p "$dest$(dirname "$lib")"
    cp -L "$lib" "$dest$lib"
done
