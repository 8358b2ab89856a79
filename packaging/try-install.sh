#!/usr/bin/env bash
# Installs a `rongxin` .deb for real, with dpkg, into a throwaway copy of
# this machine (an overlay of / in a private mount namespace, so nothing
# reaches the real system), then follows the install guide there: the
# postinst's user and directories, keygen as the node's user, a roster the
# "city" signs, `rongxinctl init` with its defaults, and the packaged node
# started as `rongxin` from /etc/rongxin/node.toml until its admin status
# answers, then stopped with SIGTERM. systemd itself does not run here (no
# systemd as PID 1): the unit is checked by systemd-analyze in check-deb.sh.
# Needs root (mount namespaces); check-deb.sh runs it when it is root.
#   bash packaging/try-install.sh target/debian/rongxin_*.deb
set -euo pipefail
deb=$(realpath "$1")
[ "$(id -u)" = 0 ] || { echo "try-install: needs root (an overlay of /)" >&2; exit 1; }

ovl=$(mktemp -d)
trap 'rm -rf "$ovl"' EXIT
mkdir -p "$ovl/up" "$ovl/work" "$ovl/root"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
p2p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# What runs inside the installed copy, as root; the node as rongxin.
cat >"$ovl/up-script" <<EOF
set -eu
fail() { echo "try-install: \$*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
dpkg -i /tmp/rongxin.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log >&2; fail "dpkg -i failed"; }
getent passwd rongxin >/dev/null || fail "postinst made no user rongxin"
for d in "/etc/rongxin root:rongxin 750" "/etc/rongxin/keys rongxin:rongxin 700" \
    "/etc/rongxin/tokens rongxin:rongxin 700" "/var/lib/rongxin rongxin:rongxin 700"; do
    set -- \$d
    got=\$(stat -c '%U:%G %a' "\$1")
    [ "\$got" = "\$2 \$3" ] || fail "\$1 is \$got, expected \$2 \$3"
done
echo "ok: dpkg -i, user rongxin, /etc/rongxin and /var/lib/rongxin as the guide says"

cd /
runuser -u rongxin -- rongxinctl keygen --member gulou --out /etc/rongxin/keys >/dev/null
city=/root/from-city
mkdir -p "\$city"
rongxinctl keygen --root --out "\$city/root" >/dev/null
rongxinctl keygen --member city --out "\$city/city" >/dev/null
rongxinctl roster new --out "\$city/roster.toml" --valid-from 2026-01-01 --valid-until 2030-12-31 \
    --catalog /usr/share/rongxin/catalog.toml >/dev/null
rongxinctl roster add-member "\$city/roster.toml" --id city --name city --role city \
    --jurisdiction 350100 --keys "\$city/city" --listen /ip4/127.0.0.1/tcp/1 >/dev/null
rongxinctl roster add-member "\$city/roster.toml" --id gulou --name 鼓楼区 --role district \
    --jurisdiction 350102 --keys /etc/rongxin/keys --listen /ip4/127.0.0.1/tcp/$p2p \
    --http 127.0.0.1:$port >/dev/null
rongxinctl roster sign "\$city/roster.toml" --root-key "\$city/root/root.key" \
    --out "\$city/roster.signed" >/dev/null
cp "\$city/root/root.pub" "\$city/root.pub"

# The catalog is not beside the roster: init takes the packaged one.
rongxinctl init --member gulou --roster "\$city/roster.signed"
[ -f /etc/rongxin/node.toml ] || fail "init wrote no /etc/rongxin/node.toml"
[ "\$(stat -c %U /etc/rongxin/tokens/admin.token)" = rongxin ] ||
    fail "the admin token is not the node user's"

# The command line of the unit, as the unit's user (setpriv execs the node
# itself, as systemd's User= does, so SIGTERM reaches it and not a wrapper).
setpriv --reuid=rongxin --regid=rongxin --clear-groups rongxin-node --config /etc/rongxin/node.toml --log-format json \
    >/tmp/node.log 2>&1 &
node=\$!
trap 'kill -KILL \$node 2>/dev/null || true' EXIT
i=0
until rongxinctl status --node http://127.0.0.1:$port \
    --token-file /etc/rongxin/tokens/admin.token >/tmp/status.txt 2>&1; do
    i=\$((i + 1))
    if [ \$i -gt 120 ] || ! kill -0 \$node 2>/dev/null; then
        cat /tmp/node.log /tmp/status.txt >&2
        fail "the node did not answer within 60 s"
    fi
    sleep 0.5
done
grep -q gulou /tmp/status.txt || { cat /tmp/status.txt >&2; fail "status does not name gulou"; }
[ -d /var/lib/rongxin/data ] || fail "no /var/lib/rongxin/data"
[ "\$(stat -c %U /var/lib/rongxin/data)" = rongxin ] || fail "data_dir is not rongxin's"
kill -TERM \$node
status=0
wait \$node || status=\$?
[ \$status = 0 ] || { cat /tmp/node.log >&2; fail "SIGTERM: exit \$status"; }
echo "ok: keygen as rongxin, roster, init, rongxin-node as rongxin answered its admin status, SIGTERM exit 0"
EOF

unshare --mount --propagation private bash -euo pipefail -c '
    ovl=$1 deb=$2
    mount -t overlay overlay -o "lowerdir=/,upperdir=$ovl/up,workdir=$ovl/work" "$ovl/root"
    mount -t proc proc "$ovl/root/proc"
    mount --rbind /dev "$ovl/root/dev"
    mount -t tmpfs tmpfs "$ovl/root/tmp"
    mount -t tmpfs tmpfs "$ovl/root/run"
    cp "$deb" "$ovl/root/tmp/rongxin.deb"
    cp "$ovl/up-script" "$ovl/root/tmp/script.sh"
    chroot "$ovl/root" /bin/sh /tmp/script.sh
' _ "$ovl" "$deb"
