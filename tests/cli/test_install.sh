#!/usr/bin/env bash
# `cmake --install` puts slm, libslm (static + shared), slm.h and slm.pc in a
# prefix, and a program built with `pkg-config slm` against them works.
# Run by ctest from the build directory; $1 is the slm binary.
set -euo pipefail
build=$(dirname "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in bin/slm include/slm.h lib/libslm.a lib/libslm.so lib/pkgconfig/slm.pc; do
  [ -e "$tmp/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done

# A sanitizer build's libslm.so needs its runtime loaded first; the plain
# build checks linking against the installed files.
if readelf -d "$tmp/prefix/lib/libslm.so" 2>/dev/null | grep -q 'libasan'; then
  echo "install: files installed; link check skipped in the sanitizer build"
  exit 0
fi

cat > "$tmp/use.c" <<'C'
#include <slm.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    slm_gguf *g = NULL;
    slm_error err;
    slm_status s = slm_gguf_open("/nonexistent/model.gguf", &g, &err);
    if (s != SLM_E_IO || !strstr(err.message, "/nonexistent/model.gguf")) return 1;
    printf("%s %s\n", slm_type_name(SLM_TYPE_Q4_0), SLM_VERSION);
    return 0;
}
C
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 "$tmp/use.c" $(pkg-config --cflags --libs slm) -o "$tmp/use"
out=$(LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/use")
[ "$out" = "Q4_0 $(pkg-config --modversion slm)" ] || { echo "FAIL: unexpected output '$out'"; exit 1; }
"$tmp/prefix/bin/slm" --version >/dev/null
echo "install: ok ($out)"
