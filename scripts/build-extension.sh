#!/usr/bin/env bash
# Builds the extension: the Rust core for wasm32 (size-tuned), the exactly matching wasm-bindgen
# glue, `wasm-opt -Oz` (npm binaryen), and the same core converted to JavaScript by wasm2js for
# pages whose CSP forbids WebAssembly. Output: extension/dist/ (git-ignored; manifest.json points
# there) and the store-ready target/baton-extension.zip. Installs the tools it lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen crate version in Cargo.lock
MAX_WASM_GZIP_BYTES=153600     # 150 kB: the budget of each WASM module (overlay, worker, lead, settings, seat), gzipped
OUT=extension/dist
WORK=target/wasm-build
FEATURES="--enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals"

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  # Not --locked: its lockfile pins a yanked crate.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund
fi

rm -rf "$OUT" "$WORK"
mkdir -p "$OUT" "$WORK"

# build_module NAME: the core with cargo feature NAME into $OUT/NAME/. The content script's modules
# (overlay, lead, seat) also get their wasm2js twins (the options page's settings need none: an extension
# page allows WebAssembly). Each must fit the size budget.
build_module() {
  local name=$1 work="$WORK/$1" out="$OUT/$1"
  mkdir -p "$work" "$out"
  # -C target-cpu=mvp plus stripping target_features keeps the module free of reference types, so
  # one glue file serves the .wasm and its wasm2js twin (see tools/strip_target_features.py).
  # Dependencies' source paths (kept in panic locations) shortened: bytes the budget can use.
  RUSTFLAGS="-C target-cpu=mvp --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src=crates" \
    cargo build --locked -p core-wasm --features "$name" \
    --target wasm32-unknown-unknown --profile wasm-release --target-dir "target/wasm-$name"
  python3 tools/strip_target_features.py \
    "target/wasm-$name/wasm32-unknown-unknown/wasm-release/baton_core.wasm" "$work/baton_core.wasm"
  wasm-bindgen --target bundler --out-dir "$work/pkg" "$work/baton_core.wasm"
  # Flattening and re-looping before -Oz, run to a fixed point, gives the smallest module here.
  # shellcheck disable=SC2086
  node_modules/.bin/wasm-opt $FEATURES --flatten --rereloop -Oz -Oz --converge --strip-debug --strip-producers \
    "$work/pkg/baton_core_bg.wasm" -o "$out/baton_core_bg.wasm"
  cp "$work/pkg/baton_core_bg.js" "$out/"
  local size
  size=$(gzip -9 -c "$out/baton_core_bg.wasm" | wc -c)
  echo "$name: $(wc -c < "$out/baton_core_bg.wasm") bytes wasm, $size gzipped"
  if [ "$name" = overlay ] || [ "$name" = lead ] || [ "$name" = seat ]; then
    # shellcheck disable=SC2086
    node_modules/.bin/wasm2js $FEATURES -Oz "$out/baton_core_bg.wasm" -o "$out/baton_core_bg.wasm.js"
    # wasm2js grows memory into a fresh ArrayBuffer without detaching the old one, so the glue's
    # cached views never refresh and strings come back empty. Transferring detaches it.
    local grow='var newBuffer = new ArrayBuffer(newPages << 16);'
    grep -qF "$grow" "$out/baton_core_bg.wasm.js" || {
      echo "error: wasm2js output changed; re-check the memory-growth patch" >&2; exit 1; }
    sed -i "s/var newBuffer = new ArrayBuffer(newPages << 16);/var newBuffer = buffer.transfer(newPages << 16);/; /newHEAP8.set(HEAP8);/d" \
      "$out/baton_core_bg.wasm.js"
  fi
  if [ "$size" -gt "$MAX_WASM_GZIP_BYTES" ]; then
    echo "error: the $name's WASM is over its budget of $MAX_WASM_GZIP_BYTES bytes gzipped" >&2; exit 1
  fi
}

build_module worker
build_module overlay
build_module lead
cp core-wasm/src/lead/lead.css "$OUT/lead/"
build_module settings
build_module seat
cp core-wasm/src/seat/seat.css "$OUT/seat/"
# The overlay's stylesheets, for its shadow roots: the loader reads them and hands them to the core
# (as files they cost the WASM budget nothing). Comments are stripped; they are for the sources.
for sheet in core-wasm/src/dom/css/*.css; do
  python3 -c 'import re,sys; sys.stdout.write(re.sub(r"/\*.*?\*/\n?", "", open(sys.argv[1]).read(), flags=re.S))' \
    "$sheet" > "$OUT/overlay/$(basename "$sheet")"
done

rm -f target/baton-extension.zip
python3 - <<'PY'
import os, zipfile
with zipfile.ZipFile("target/baton-extension.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.write("manifest.json")
    for root, _, files in os.walk("extension"):
        for name in sorted(files):
            z.write(os.path.join(root, name))
print("wrote target/baton-extension.zip")
PY
