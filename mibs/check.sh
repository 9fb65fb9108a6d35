#!/usr/bin/env bash
# Validates the shipped MIB: smilint (errors and warnings up to level 4) and snmptranslate
# resolving every object it defines. Fails on any problem.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mib="$here/LINBIT-DRBD-REACTOR-MIB.txt"
out=$(SMIPATH="$here/ietf" smilint -l 4 -s "$mib" 2>&1) || true
if [ -n "$out" ]; then
    echo "smilint:"; echo "$out"; exit 1
fi
count=0
for name in $(grep -oE '^drbd[A-Za-z0-9]+ +(OBJECT-TYPE|OBJECT IDENTIFIER)' "$mib" | awk '{print $1}'); do
    oid=$(snmptranslate -M "$here:$here/ietf" -m LINBIT-DRBD-REACTOR-MIB -On "LINBIT-DRBD-REACTOR-MIB::$name")
    case "$oid" in
        .1.3.6.1.4.1.23302.*) count=$((count + 1)) ;;
        *) echo "snmptranslate did not resolve $name: $oid"; exit 1 ;;
    esac
done
[ "$count" -ge 51 ] || { echo "only $count objects resolved"; exit 1; }
echo "MIB check: smilint clean, $count objects resolved"
