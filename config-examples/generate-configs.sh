#!/usr/bin/env bash
# Writes one node config per member of the example federation, the demo
# tokens they accept, and tokens.toml (the tokens file every member reads:
# the federation's auditor and a monitoring token). DEMO TOKENS — for local
# use only. Keeps existing tokens unless --new-tokens is given.
#
# usage: config-examples/generate-configs.sh [--new-tokens]
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p tokens

token() { # name -> prints the token, creating it if needed
  local f="tokens/$1.token"
  if [ ! -f "$f" ] || [ "${1:-}" = "--new" ]; then
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$f"
  fi
  tr -d '\n' <"$f"
}
[ "${1:-}" = "--new-tokens" ] && rm -f tokens/*.token
digest() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

admin=$(digest "$(token admin)")
agency=$(digest "$(token agency)")
gov=$(digest "$(token government)")
auditor=$(digest "$(token auditor)")
monitor=$(digest "$(token monitor)")

cat >tokens.toml <<TOML
# Bearer tokens every member of the example federation accepts, as SHA-256
# digests (never the tokens). DEMO TOKENS: tokens/auditor.token and
# tokens/monitor.token, for local use only. Managed with
# \`rongxinctl token add|revoke|list --file tokens.toml\`; roles in
# docs/operations.md.

# The federation's auditor: every entry and bundle of every log, each read
# of non-public content registered in the node's query log.
[[token]]
id = "auditor"
role = "auditor"
name = "示例联邦审计"
sha256 = "${auditor}"

# Read-only monitoring: status, metrics, evidence; no record content.
[[token]]
id = "monitor"
role = "monitor"
name = "示例运行监控"
sha256 = "${monitor}"
TOML

# id | display name | jurisdictions (TOML list) | port suffix | peers
members='
city|福州市公共信用信息中心|"350100", "350101"|00|"ftz", "gulou", "taijiang", "cangshan", "mawei", "jinan", "changle", "minhou", "lianjiang", "luoyuan", "minqing", "yongtai", "fuqing"
ftz|自贸区福州片区|"ftz-fuzhou"|01|"city"
gulou|鼓楼区|"350102"|02|"city", "ftz"
taijiang|台江区|"350103"|03|"city", "ftz"
cangshan|仓山区|"350104"|04|"city", "ftz"
mawei|马尾区|"350105"|05|"city", "ftz"
jinan|晋安区|"350111"|11|"city", "ftz"
changle|长乐区|"350112", "350182"|12|"city", "ftz"
minhou|闽侯县|"350121"|21|"city", "ftz"
lianjiang|连江县|"350122"|22|"city", "ftz"
luoyuan|罗源县|"350123"|23|"city", "ftz"
minqing|闽清县|"350124"|24|"city", "ftz"
yongtai|永泰县|"350125"|25|"city", "ftz"
fuqing|福清市|"350181"|81|"city", "ftz"
'
while IFS='|' read -r id name jurisdictions port peers; do
  [ -n "$id" ] || continue
  dept=$(digest "$(token "$id")")
  cat >"$id.toml" <<TOML
# rongxin-node config of ${name} (${id}) in the example federation.
# Every member of the example runs on its own loopback ports, so the whole
# federation fits on one machine. The keys and tokens are DEMO KEYS AND
# TOKENS, published in this repository: for local use only.
# Field by field: docs/operations.md. Paths are relative to this file.

member = "${id}"
# Overridden by --data-dir; the demo uses a temporary directory.
data_dir = "/var/lib/rongxin/${id}"
http_listen = "127.0.0.1:81${port}"
p2p_listen = "/ip4/127.0.0.1/tcp/71${port}"
peers = [${peers}]

roster = "roster.signed"
root_key = "root.pub"
catalog = "catalog.toml"
signing_key = "demo-keys/${id}/signing.key"
transport_key = "demo-keys/${id}/transport.key"

# SHA-256 of tokens/admin.token.
admin_token_sha256 = "${admin}"
# The auditor and monitoring tokens (tokens.toml).
tokens_file = "tokens.toml"
max_body_bytes = 16777216
max_records_per_request = 10000

# Department systems of ${name}; tokens/${id}.token is the demo token.
[[departments]]
name = "${name}信用信息归集系统"
token_sha256 = "${dept}"
jurisdictions = [${jurisdictions}]
kinds = ["*"]

# Agencies that see 有条件公开 records (tokens/agency.token) and, for
# government sharing, 不予公开 ones too (tokens/government.token).
[[agencies]]
name = "示例授权查询机构"
token_sha256 = "${agency}"
access = "conditional"

[[agencies]]
name = "示例政务共享部门"
token_sha256 = "${gov}"
access = "government"
TOML
  if [ "$id" = city ]; then
    cat >>"$id.toml" <<'TOML'

# The city forwards every verified entry of every origin to the provincial
# platform (docs/province-interface.md) over HTTPS with a client certificate.
# DEMO CERTIFICATES (demo-certs/README.md): for local use only.
[forward]
url = "https://127.0.0.1:9443"
ca = "demo-certs/ca.pem"
client_cert = "demo-certs/city.pem"
client_key = "demo-certs/city.key"
batch = 500
TOML
  fi
  cat >>"$id.toml" <<'TOML'

# The HTTP API serves HTTPS only. DEMO CERTIFICATE for 127.0.0.1 and
# localhost, shared by every member (demo-certs/README.md): clients verify it
# against demo-certs/ca.pem (rongxinctl --ca, curl --cacert).
[tls]
cert = "demo-certs/node.pem"
key = "demo-certs/node.key"

# Logs (docs/operations.md §4): text or json lines on stderr; the filter is
# re-read on SIGHUP. RONGXIN_LOG, when set, overrides the filter.
# [log]
# format = "json"
# filter = "info,rongxin_node::replica=debug"
TOML
done <<<"$members"
echo "wrote the member configs; tokens in tokens/"
