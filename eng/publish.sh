#!/usr/bin/env bash
# Builds what a release ships, compiled ahead of time (NativeAOT) for this machine's architecture,
# into one directory that can be copied to machines without .NET:
#   OUT/bin/omnistore                      the command: relay daemon, put, get, demo, bench, ...
#   OUT/lib/libomnistore.so (.so.0, .so.0.1.0), OUT/include/omnistore.h, OUT/lib/pkgconfig/omnistore.pc
#                                          the C library (docs/native.md)
#   OUT/include/omnistore.mod, OUT/lib/libomnistore_fortran.a, OUT/lib/pkgconfig/omnistore-fortran.pc
#                                          the Fortran module over it, compiled by this machine's
#                                          Fortran compiler (gfortran), if it has one
#   OUT/include/omnistore.f90              the same module as source, for other compilers
# Needs the .NET 10 SDK, cmake and a C compiler (NativeAOT links with it), and gfortran for the
# compiled Fortran module; the result needs none of them.
#
# Usage: bash eng/publish.sh [OUT=dist]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
case $(uname -m) in
  x86_64 | amd64) rid=linux-x64 ;;
  aarch64 | arm64) rid=linux-arm64 ;;
  *) echo "publish.sh: no .NET runtime identifier for $(uname -m)" >&2; exit 2 ;;
esac

echo "==> omnistore ($rid, NativeAOT)"
dotnet publish src/OmniStore.Cli/OmniStore.Cli.csproj -c Release -r "$rid" -o "$out/.publish/cli" --nologo -v quiet
install -D -m 755 "$out/.publish/cli/OmniStore.Cli" "$out/bin/omnistore"

echo "==> libomnistore ($rid, NativeAOT)"
cmake -S native -B "$out/.publish/native" -DCMAKE_BUILD_TYPE=Release -DOMNISTORE_RID="$rid" -DBUILD_TESTING=OFF >/dev/null
cmake --build "$out/.publish/native" --target omnistore_libraries >/dev/null
[[ -f $out/.publish/native/fortran/omnistore.mod ]] ||
  echo "note: no Fortran compiler (gfortran): the Fortran module is in $out/include as source only" >&2
cmake --install "$out/.publish/native" --prefix "$out" >/dev/null
rm -rf "$out/.publish"

echo "==> $out"
(cd "$out" && find . -type f -o -type l | sort | sed 's/^\.\//  /')
"$out/bin/omnistore" --version
