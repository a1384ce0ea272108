#!/usr/bin/env bash
# cmake --install into a temporary prefix, then builds examples/worker.c against it with
# pkg-config, as a user would, and runs it against a relay with an empty environment: no
# LD_LIBRARY_PATH, no DOTNET_ROOT, nothing. The library is one file: nothing else is installed.
# Usage: install.sh CMAKE BUILD_DIR SOURCE_DIR LIBDIR MASTER CC
source "$(dirname "${BASH_SOURCE[0]}")/tree.sh"
cmake=$1 build=$2 source=$3 libdir=$4 master=$5 cc=$6
prefix=$WORK/prefix

command -v pkg-config >/dev/null || skip_or_fail "pkg-config is not installed"
"$cmake" --install "$build" --prefix "$prefix" >"$WORK/install.log"
for file in "$libdir/libomnistore.so" "$libdir/libomnistore.so.0" "$libdir/libomnistore.so.0.1.0" \
  include/omnistore.h include/omnistore.f90 "$libdir/pkgconfig/omnistore.pc"; do
  [[ -e $prefix/$file ]] || { echo "not installed: $file" >&2; cat "$WORK/install.log" >&2; exit 1; }
done

extra=$(cd "$prefix" && find . -type f ! -path "./$libdir/libomnistore.so.0.1.0" ! -path ./include/omnistore.h ! -path ./include/omnistore.f90 ! -path "./$libdir/pkgconfig/omnistore.pc")
[[ -z $extra ]] || { echo "installed besides the library, header and pkg-config file: $extra" >&2; exit 1; }

flags=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config --cflags --libs omnistore)
echo "pkg-config --cflags --libs omnistore: $flags"
# shellcheck disable=SC2086 # the flags are words
"$cc" "$source/examples/worker.c" $flags -o "$WORK/worker"

start_tree
timeout 180 "$master" 1 "$ROOT_URI" >"$WORK/master.log" 2>&1 &
master_pid=$!
status=0
timeout 180 env -i "$WORK/worker" 0 "$RELAY_URI" || status=1
wait "$master_pid" || status=1
cat "$WORK/master.log"
exit "$status"
