#!/usr/bin/env bash
# cmake --install into a temporary prefix, then builds a worker against it with pkg-config, as a
# user would, and runs it against a relay with an empty environment: no LD_LIBRARY_PATH, no
# DOTNET_ROOT, nothing.
#   c:       examples/worker.c with `pkg-config omnistore`. The library is one file, and nothing
#            is installed but it, its header, the Fortran module and the pkg-config files.
#   fortran: examples/worker.f90 alone (no module source) with `pkg-config omnistore-fortran`:
#            the installed omnistore.mod and libomnistore_fortran.a are all it needs.
# Usage: install.sh c|fortran CMAKE BUILD_DIR SOURCE_DIR LIBDIR MASTER CC [FC]
#        FC is the Fortran compiler the build found, empty if none (the module is then source only).
source "$(dirname "${BASH_SOURCE[0]}")/tree.sh"
mode=$1 cmake=$2 build=$3 source=$4 libdir=$5 master=$6 cc=$7 fc=${8:-}
prefix=$WORK/prefix

command -v pkg-config >/dev/null || skip_or_fail "pkg-config is not installed"
[[ $mode == c || -n $fc ]] || skip_or_fail "no Fortran compiler was found by the build (is gfortran installed?)"
"$cmake" --install "$build" --prefix "$prefix" >"$WORK/install.log"

expected=("$libdir/libomnistore.so.0.1.0" include/omnistore.h include/omnistore.f90 "$libdir/pkgconfig/omnistore.pc")
if [[ -n $fc ]]; then
  expected+=(include/omnistore.mod "$libdir/libomnistore_fortran.a" "$libdir/pkgconfig/omnistore-fortran.pc")
fi
for file in "${expected[@]}" "$libdir/libomnistore.so" "$libdir/libomnistore.so.0"; do
  [[ -e $prefix/$file ]] || { echo "not installed: $file" >&2; cat "$WORK/install.log" >&2; exit 1; }
done
extra=$(cd "$prefix" && find . -type f | sed 's|^\./||' | grep -vxF -f <(printf '%s\n' "${expected[@]}") || true)
[[ -z $extra ]] || { echo "installed besides ${expected[*]}: $extra" >&2; exit 1; }

export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
case $mode in
  c)
    flags=$(pkg-config --cflags --libs omnistore)
    echo "pkg-config --cflags --libs omnistore: $flags"
    # shellcheck disable=SC2086 # the flags are words
    "$cc" "$source/examples/worker.c" $flags -o "$WORK/worker"
    ;;
  fortran)
    flags=$(pkg-config --cflags --libs omnistore-fortran)
    echo "pkg-config --cflags --libs omnistore-fortran: $flags (module compiled by $(pkg-config --variable=fortran_compiler omnistore-fortran))"
    # Built in a folder of its own, so that the only omnistore.mod it can find is the installed one.
    mkdir "$WORK/fortran" && cp "$source/examples/worker.f90" "$WORK/fortran/"
    # shellcheck disable=SC2086 # the flags are words
    (cd "$WORK/fortran" && "$fc" worker.f90 $flags -o "$WORK/worker")
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac

start_tree
timeout 180 "$master" 1 "$ROOT_URI" >"$WORK/master.log" 2>&1 &
master_pid=$!
status=0
timeout 180 env -i "$WORK/worker" 0 "$RELAY_URI" || status=1
wait "$master_pid" || status=1
cat "$WORK/master.log"
exit "$status"
