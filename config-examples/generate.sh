#!/usr/bin/env bash
# Regenerates the example federation: the root key, every member's demo keys,
# and the root-signed roster. The keys this writes are DEMO KEYS for local use
# only; a real federation generates its own (docs/operations.md).
#
# usage: config-examples/generate.sh [path/to/rongxinctl]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ctl=${1:-"$here/../target/debug/rongxinctl"}
cd "$here"

rm -rf demo-keys roster.toml roster.signed root.pub
mkdir -p demo-keys
"$ctl" keygen --root --out demo-keys >/dev/null
cp demo-keys/root.pub root.pub

# id | display name | role | jurisdictions (comma-separated) | port suffix
members="
city|福州市公共信用信息中心|city|350100,350101|00
ftz|自贸区福州片区|ftz|ftz-fuzhou|01
gulou|鼓楼区|district|350102|02
taijiang|台江区|district|350103|03
cangshan|仓山区|district|350104|04
mawei|马尾区|district|350105|05
jinan|晋安区|district|350111|11
changle|长乐区|district|350112,350182|12
minhou|闽侯县|district|350121|21
lianjiang|连江县|district|350122|22
luoyuan|罗源县|district|350123|23
minqing|闽清县|district|350124|24
yongtai|永泰县|district|350125|25
fuqing|福清市|district|350181|81
"
"$ctl" roster new --out roster.toml --federation rongxin.fuzhou --version 1 \
  --valid-from 2026-01-01 --valid-until 2028-12-31 --catalog catalog.toml >/dev/null
while IFS='|' read -r id name role jurisdictions port; do
  [ -n "$id" ] || continue
  "$ctl" keygen --member "$id" --out "demo-keys/$id" >/dev/null
  args=()
  IFS=',' read -ra js <<<"$jurisdictions"
  for j in "${js[@]}"; do args+=(--jurisdiction "$j"); done
  "$ctl" roster add-member roster.toml --id "$id" --name "$name" --role "$role" \
    "${args[@]}" --keys "demo-keys/$id" \
    --listen "/ip4/127.0.0.1/tcp/71$port" --http "127.0.0.1:81$port" >/dev/null
done <<<"$members"
"$ctl" roster sign roster.toml --root-key demo-keys/root.key --out roster.signed
"$ctl" roster verify roster.signed --root root.pub --catalog catalog.toml
