#!/usr/bin/env bash
# A copy of libomnistore.so whose runtime cannot start: omst_init must report OMST_E_RUNTIME and
# say why (runtime_missing checks the code and the message).
#   assemblies: the library alone in a directory, without omnistore/ beside it;
#   framework:  omnistore/ beside it, but its runtimeconfig asks for a .NET that does not exist.
# Usage: runtime_missing.sh assemblies|framework LIBOMNISTORE MANAGED_DIR RUNTIME_MISSING
source "$(dirname "${BASH_SOURCE[0]}")/tree.sh"
mode=$1 library=$2 managed=$3 program=$4
cp -L "$library" "$WORK/libomnistore.so"
case $mode in
  assemblies) timeout 60 "$program" "$WORK/libomnistore.so" "omnistore/OmniStore.Native.dll" ;;
  framework)
    cp -R "$managed" "$WORK/omnistore"
    sed -i 's/"version": "[0-9.]*"/"version": "99.0.0"/' "$WORK/omnistore/OmniStore.Native.runtimeconfig.json"
    grep -q '"99.0.0"' "$WORK/omnistore/OmniStore.Native.runtimeconfig.json"
    timeout 60 "$program" "$WORK/libomnistore.so" "99.0.0"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
