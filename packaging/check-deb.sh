#!/usr/bin/env bash
# Builds the `rongxin` Debian package from the release binaries already in
# target/release (no second build), unpacks it into a throwaway root and
# checks it: the files it must hold, its conffiles and maintainer scripts,
# that the packaged binaries run, that the unit keeps its hardening, and
# `systemd-analyze verify` on the unit inside the unpacked tree; then, as
# root, installs it with dpkg into a throwaway overlay of this machine and
# starts the node from what `rongxinctl init` wrote (packaging/try-install.sh).
# CI runs it after `cargo build --release`; run it by hand the same way:
#   cargo build --release --workspace --locked && bash packaging/check-deb.sh
# Set RONGXIN_DEB_OUT=DIR to keep the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

fail() {
    echo "check-deb: $*" >&2
    exit 1
}

for bin in rongxin-node rongxinctl; do
    [ -x "target/release/$bin" ] ||
        fail "target/release/$bin is missing: run cargo build --release --workspace --locked first"
done
if ! command -v cargo-deb >/dev/null; then
    echo "== installing cargo-deb (about 1 min on 2 cores)"
    cargo install cargo-deb --locked
fi
if ! command -v systemd-analyze >/dev/null; then
    echo "== installing systemd (for systemd-analyze)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${RONGXIN_DEB_OUT:-$work}
mkdir -p "$out"

echo "== cargo deb (from target/release, no build)"
# --fast: lighter compression; the package is checked here, not published.
cargo deb -p rongxin-node --no-build --locked --fast --output "$out" >"$work/cargo-deb.log" 2>&1 ||
    { cat "$work/cargo-deb.log" >&2; fail "cargo deb failed"; }
deb=$(ls "$out"/rongxin_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { cat "$work/cargo-deb.log" >&2; fail "no rongxin_*.deb in $out"; }
echo "$deb ($(du -h "$deb" | cut -f1))"

root="$work/root"
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$root/DEBIAN"
dpkg-deb --field "$deb" Package Version Depends

echo "== files"
unit=""
for dir in usr/lib/systemd/system lib/systemd/system; do
    [ -f "$root/$dir/rongxin-node.service" ] && unit="/$dir/rongxin-node.service"
done
[ -n "$unit" ] || fail "no rongxin-node.service under /usr/lib/systemd/system or /lib/systemd/system"
for f in usr/bin/rongxin-node usr/bin/rongxinctl; do
    [ -x "$root/$f" ] || fail "/$f missing or not executable"
done
for f in etc/rongxin/node.toml.example usr/share/rongxin/catalog.toml \
    usr/share/doc/rongxin/README.md usr/share/doc/rongxin/operations.md \
    usr/share/doc/rongxin/examples/prometheus/rongxin-rules.yml \
    usr/share/doc/rongxin/examples/grafana/rongxin-dashboard.json \
    usr/share/doc/rongxin/copyright; do
    [ -f "$root/$f" ] || fail "/$f missing"
done
cmp -s "$root/usr/share/rongxin/catalog.toml" config-examples/catalog.toml ||
    fail "/usr/share/rongxin/catalog.toml is not config-examples/catalog.toml"
grep -qx /etc/rongxin/node.toml.example "$root/DEBIAN/conffiles" ||
    fail "/etc/rongxin/node.toml.example is not a conffile"
if [ -e "$root/etc/rongxin/node.toml" ] || grep -qx /etc/rongxin/node.toml "$root/DEBIAN/conffiles"; then
    fail "the package must not own /etc/rongxin/node.toml (rongxinctl init writes it)"
fi
sh -n "$root/DEBIAN/postinst" || fail "postinst is not valid sh"
grep -q 'useradd --system' "$root/DEBIAN/postinst" || fail "postinst does not create the rongxin user"
grep -q 'deb-systemd-helper' "$root/DEBIAN/postinst" || fail "postinst lacks the systemd unit handling"
if grep -q 'deb-systemd-helper enable' "$root/DEBIAN/postinst" &&
    ! grep -q 'was-enabled' "$root/DEBIAN/postinst"; then
    fail "postinst enables the unit before rongxinctl init has written a config"
fi
echo "ok: binaries, unit $unit, conffile, catalog, docs, postinst"

echo "== the packaged binaries run"
"$root/usr/bin/rongxin-node" --version
"$root/usr/bin/rongxinctl" --version
"$root/usr/bin/rongxinctl" init --help | grep -q -- '--roster' ||
    fail "the packaged rongxinctl has no init --roster"

echo "== the unit keeps its hardening"
for setting in 'User=rongxin' \
    'ExecStart=/usr/bin/rongxin-node --config /etc/rongxin/node.toml --log-format json' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'KillSignal=SIGTERM' 'Restart=on-failure' \
    'ProtectSystem=strict' 'ProtectHome=true' 'PrivateTmp=true' 'NoNewPrivileges=true' \
    'StateDirectory=rongxin' 'StateDirectoryMode=0700' 'ConfigurationDirectory=rongxin' \
    'CapabilityBoundingSet=' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
    'SystemCallFilter=@system-service'; do
    grep -qxF "$setting" "$root$unit" || fail "$unit lacks the line: $setting"
done
grep -q '^LimitNOFILE=' "$root$unit" || fail "$unit sets no LimitNOFILE"
grep -q '^TimeoutStopSec=' "$root$unit" || fail "$unit sets no TimeoutStopSec"
echo "ok"

echo "== systemd-analyze verify (inside the unpacked root)"
# --root resolves the unit and the programs it runs (/usr/bin/rongxin-node)
# inside the unpacked package, so a unit naming a binary the package does not
# ship fails. The root gets what a system has besides the package: the
# host's units (the targets ours depends on) and /bin/kill (ExecReload).
cp -an /usr/lib/systemd/system/. "$root/usr/lib/systemd/system/" 2>/dev/null ||
    cp -an /lib/systemd/system/. "$root/usr/lib/systemd/system/"
mkdir -p "$root/bin"
[ -e "$root/bin/kill" ] || cp /bin/kill "$root/bin/kill"
verify() { # unit path inside the root -> problems about it, or failure
    local out
    out=$(systemd-analyze verify --man=no --generators=no --root="$root" "$1" 2>&1) ||
        { echo "$out"; return 1; }
    # verify only warns about unknown keys and bad values (exit 0); any
    # message naming the unit is a failure here.
    out=$(printf '%s\n' "$out" | grep -F "$(basename "$1")" || true)
    [ -z "$out" ] || { echo "$out"; return 1; }
}
problems=$(verify "$unit") || { echo "$problems" >&2; fail "systemd-analyze verify: $unit"; }
# The check itself must catch a typo: the same unit with one wrong value.
bad=/usr/lib/systemd/system/rongxin-typo-check.service
sed 's/^ProtectHome=true$/ProtectHome=treu/' "$root$unit" >"$root$bad"
if verify "$bad" >/dev/null; then fail "systemd-analyze verify missed ProtectHome=treu"; fi
rm "$root$bad"
echo "ok: $unit"
systemd-analyze security --offline=yes --root="$root" "$unit" 2>/dev/null | tail -1 || true

echo "== dpkg -i into a throwaway copy of this machine, then the install guide"
if [ "$(id -u)" = 0 ]; then
    bash packaging/try-install.sh "$deb"
else
    echo "SKIPPED: needs root (packaging/try-install.sh mounts an overlay of /)"
fi

echo "== check-deb done in $((SECONDS - start)) s"
