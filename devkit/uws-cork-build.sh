#!/usr/bin/env bash
# Builds uWebSockets.js for this machine's Node with a larger uWS cork buffer, as a package directory
# named uWebSockets.js that Sluice's loader prefers once installed (docs/transports.md, "A
# uWebSockets.js with a larger cork buffer"). The sources are yours: a checkout of uWebSockets.js
# with its submodules (src/addon.cpp, uWebSockets/src, uWebSockets/uSockets/src); nothing of them is
# kept in this repository.
#
#   devkit/uws-cork-build.sh <uWebSockets.js checkout> <cork KiB, 16..16384> <out dir>
#   npm install --no-save <out dir>/uWebSockets.js
#   npx sluice --transport uws --outbound.uwsCorkBytes <KiB × 1024> --outbound.uwsTopicFanout false
#
# What differs from the release build: uWebSockets' LoopData::CORK_BUFFER_SIZE (16 KiB) is set to
# <cork KiB>; OpenSSL comes from the headers Node ships (its symbols from the node binary, as
# Node's own addons use them); HTTP/3 (lsquic) is not linked, so the H3App export must not be used
# (Sluice never does). Needs g++ and Node's headers (NODE_INCLUDE, else <node prefix>/include/node).
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $(sed -n '8p' "$0" | sed 's/^#   //')" >&2
  exit 2
fi
SRC=$(cd "$1" && pwd)
KIB=$2
OUT=$3
case $KIB in '' | *[!0-9]*) echo "cork KiB must be a whole number" >&2; exit 2 ;; esac
if [ "$KIB" -lt 16 ] || [ "$KIB" -gt 16384 ]; then echo "cork KiB must be 16..16384" >&2; exit 2; fi
for f in src/addon.cpp uWebSockets/src/LoopData.h uWebSockets/uSockets/src/libusockets.h; do
  [ -f "$SRC/$f" ] || { echo "$SRC/$f is missing: a uWebSockets.js checkout with its submodules is needed" >&2; exit 2; }
done
NODE_INCLUDE=${NODE_INCLUDE:-$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node}
[ -f "$NODE_INCLUDE/v8.h" ] || { echo "Node's headers not found in $NODE_INCLUDE (set NODE_INCLUDE)" >&2; exit 2; }
ABI=$(node -p process.versions.modules)
NAME="uws_$(node -p process.platform)_$(node -p process.arch)_${ABI}.node"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC/src" "$SRC/uWebSockets" "$WORK/"
cd "$WORK"
sed -i "s/static const unsigned int CORK_BUFFER_SIZE = 16 \* 1024;/static const unsigned int CORK_BUFFER_SIZE = $KIB * 1024;/" uWebSockets/src/LoopData.h
grep -q "CORK_BUFFER_SIZE = $KIB \* 1024;" uWebSockets/src/LoopData.h || { echo "LoopData.h has no 16 KiB CORK_BUFFER_SIZE line to change" >&2; exit 1; }

INC=(-I"$NODE_INCLUDE" -I uWebSockets/uSockets/src -I uWebSockets/src)
DEF=(-DLIBUS_USE_LIBUV -DLIBUS_USE_OPENSSL -DUWS_WITH_PROXY)
gcc "${DEF[@]}" "${INC[@]}" -pthread -O3 -c -fPIC uWebSockets/uSockets/src/*.c uWebSockets/uSockets/src/eventing/*.c uWebSockets/uSockets/src/crypto/*.c
# LIBUS_USE_QUIC only declares the HTTP/3 functions the addon names; they stay unresolved (lazy binding) and uncalled.
g++ "${DEF[@]}" -DLIBUS_USE_QUIC "${INC[@]}" -pthread -O3 -c -fPIC -std=c++17 src/addon.cpp uWebSockets/uSockets/src/crypto/sni_tree.cpp
g++ -pthread -O3 ./*.o -shared -o "$NAME"

VERSION=$(cd "$SRC" && (git describe --tags 2>/dev/null || echo unknown) | sed 's/^v//')
mkdir -p "$OUT/uWebSockets.js"
PKG=$(cd "$OUT/uWebSockets.js" && pwd)
cp "$NAME" "$PKG/"
printf '{ "name": "uWebSockets.js", "version": "%s-cork%sk", "main": "uws.js" }\n' "$VERSION" "$KIB" > "$PKG/package.json"
printf 'module.exports = require(`./uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);\n' > "$PKG/uws.js"
node -e "const u = require('$PKG'); if (typeof u.App !== 'function') process.exit(1)"
echo "built $PKG/$NAME (cork buffer $KIB KiB); install it with: npm install --no-save $PKG"
