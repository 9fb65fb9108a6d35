#!/usr/bin/env bash
# Builds the drbd-reactor OCI image from Debian's packages, without pulling from a registry:
# mmdebstrap makes a Debian root file system (variant "essential" plus drbd-utils and tini,
# no documentation), the project's binaries, default config and example script go in, and
# `podman import` turns the tree into an image. See container/README.md.
#
#   container/build.sh [--slim] [--tag IMAGE] [--slim-tag IMAGE] [--suite SUITE] \
#       DRBD_REACTOR_BIN [OCF_RS_WRAPPER_BIN]
#
# --slim makes the image (--tag, default localhost/drbd-reactor:latest) a distroless-style
# one: only what the daemon and shell helpers run (bash, dash, coreutils, grep, sed, tini,
# drbd-utils, and the shared libraries they load), no dpkg, no perl, no package database.
# --slim-tag IMAGE imports that slim tree as IMAGE too, from the same mmdebstrap run. Environment: PODMAN (default "podman") is the podman command with any global
# flags; MMDEBSTRAP_MIRROR a Debian mirror (default: mmdebstrap's, from the host's sources).
# Prints the image's size at the end. Needs root (mmdebstrap's root mode, podman's storage).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tag=localhost/drbd-reactor:latest
suite=bookworm
slim=""
slim_tag=""
while [ $# -gt 0 ]; do
    case "$1" in
        --slim) slim=1; shift ;;
        --tag) tag=$2; shift 2 ;;
        --slim-tag) slim_tag=$2; shift 2 ;;
        --suite) suite=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 [--slim] [--tag IMAGE] [--slim-tag IMAGE] [--suite SUITE] DRBD_REACTOR_BIN [OCF_RS_WRAPPER_BIN]" >&2; exit 2; }
reactor_bin=$1
ocf_bin=${2:-}
read -r -a podman <<<"${PODMAN:-podman}"
for f in "$reactor_bin" ${ocf_bin:+"$ocf_bin"}; do
    [ -x "$f" ] || { echo "build.sh: $f is not an executable file" >&2; exit 1; }
done
for c in mmdebstrap "${podman[0]}"; do
    command -v "$c" >/dev/null || { echo "build.sh: '$c' is missing (apt-get install mmdebstrap podman runc)" >&2; exit 1; }
done

work=$(mktemp -d /var/tmp/drbd-reactor-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

echo "== mmdebstrap $suite (essential + drbd-utils + tini)"
nodoc=()
for d in doc man info locale lintian bash-completion; do
    nodoc+=(--dpkgopt="path-exclude=/usr/share/$d/*")
done
mmdebstrap --quiet --variant=essential --include=drbd-utils,tini "${nodoc[@]}" \
    "$suite" "$root" ${MMDEBSTRAP_MIRROR:+"$MMDEBSTRAP_MIRROR"}

echo "== project files"
# Stripped: debug information is most of a debug build's size and nothing reads it here.
install -D -m755 "$reactor_bin" "$root/usr/sbin/drbd-reactor"
strip --strip-unneeded "$root/usr/sbin/drbd-reactor" 2>/dev/null || true
if [ -n "$ocf_bin" ]; then
    install -D -m755 "$ocf_bin" "$root/usr/libexec/drbd-reactor/ocf-rs-wrapper"
    strip --strip-unneeded "$root/usr/libexec/drbd-reactor/ocf-rs-wrapper" 2>/dev/null || true
fi
install -D -m644 "$here/drbd-reactor.toml" "$root/etc/drbd-reactor.toml"
install -d -m755 "$root/etc/drbd-reactor.d"
install -D -m755 "$here/on-no-quorum-io-error.sh" "$root/usr/local/bin/on-no-quorum-io-error.sh"
# The run directory lives on a tmpfs mounted at /run; nothing else is written at run time.
rm -rf "$root"/var/cache/* "$root"/var/log/* "$root"/var/lib/apt/lists/*

# The runtime bind-mounts or links these: when they exist, nothing is created in /etc.
for f in hosts hostname resolv.conf; do
    [ -e "$root/etc/$f" ] || install -m644 /dev/null "$root/etc/$f"
done
[ -e "$root/etc/mtab" ] || ln -s /proc/mounts "$root/etc/mtab"

# import_tree <tree> <tag> <description>
import_tree() {
    echo "== podman import $2"
    tar -C "$1" --numeric-owner -c . | "${podman[@]}" import --quiet \
        --change 'ENTRYPOINT ["/usr/bin/tini", "--", "/usr/sbin/drbd-reactor"]' \
        --change 'CMD ["--config", "/etc/drbd-reactor.toml"]' \
        --change 'STOPSIGNAL SIGTERM' \
        --change 'LABEL org.opencontainers.image.title=drbd-reactor' \
        --change "LABEL org.opencontainers.image.description=drbd-reactor on Debian $suite$3" \
        - "$2" >/dev/null
    local size
    size=$("${podman[@]}" image inspect --format '{{.Size}}' "$2")
    echo "built $2: $((size / 1000000)) MB ($size bytes)"
}

if [ -z "$slim" ]; then
    import_tree "$root" "$tag" ""
fi
if [ -n "$slim" ] || [ -n "$slim_tag" ]; then
    echo "== slim tree"
    slimroot=$work/slim
    list=$work/files
    : >"$list"
    for pkg in base-files base-passwd bash dash coreutils grep sed tini drbd-utils; do
        found=""
        for f in "$root/var/lib/dpkg/info/$pkg.list" "$root/var/lib/dpkg/info/$pkg":*.list; do
            [ -e "$f" ] && { cat "$f" >>"$list"; found=1; break; }
        done
        [ -n "$found" ] || { echo "build.sh: package $pkg not in the tree" >&2; exit 1; }
    done
    printf '%s\n' /usr/sbin/drbd-reactor /etc/drbd-reactor.toml /etc/drbd-reactor.d \
        /usr/local/bin/on-no-quorum-io-error.sh /bin /sbin /lib /lib64 >>"$list"
    [ -n "$ocf_bin" ] && echo /usr/libexec/drbd-reactor/ocf-rs-wrapper >>"$list"
    # The shared libraries every ELF file of the list loads, as the tree's own loader sees them.
    elves=()
    while read -r p; do
        [ -f "$root$p" ] && [ ! -L "$root$p" ] && [ "$(head -c4 "$root$p" | tr -d '\0')" = $'\x7fELF' ] && elves+=("$p")
    done <"$list"
    # (ldd fails for static files such as tini-static; what it printed for the others counts.)
    { chroot "$root" /usr/bin/ldd "${elves[@]}" 2>/dev/null || true; } | grep -o '/[^ ]*' | grep -v ':$' | sort -u |
        while read -r lib; do
            # Keep the name the loader asks for and the file it resolves to, both on /usr.
            dir=$(chroot "$root" readlink -f "$(dirname "$lib")")
            echo "$dir/$(basename "$lib")"
            chroot "$root" readlink -f "$lib"
        done >>"$list"
    mkdir -p "$slimroot"
    # Files and symlinks (directories come with them), each under its directory's real path
    # (bookworm's packages still list /bin/bash; /bin is a symlink to usr/bin).
    sort -u "$list" | while read -r p; do
        { [ -e "$root$p" ] || [ -L "$root$p" ]; } || continue
        [ -d "$root$p" ] && [ ! -L "$root$p" ] && continue
        dir=$(readlink -f "$root$(dirname "$p")")
        echo ".${dir#"$root"}/$(basename "$p")"
    done | sort -u | tar -C "$root" -c --no-recursion -T - | tar -C "$slimroot" -x
    for d in etc/drbd-reactor.d proc sys dev run tmp var/tmp; do install -d "$slimroot/$d"; done
    chmod 1777 "$slimroot/tmp" "$slimroot/var/tmp"
    [ -e "$slimroot/etc/drbd.conf" ] || cp -a "$root/etc/drbd.conf" "$root/etc/drbd.d" "$slimroot/etc/"
    for f in hosts hostname resolv.conf mtab; do cp -a "$root/etc/$f" "$slimroot/etc/"; done
    if [ -n "$slim" ]; then import_tree "$slimroot" "$tag" " (slim)"; fi
    if [ -n "$slim_tag" ]; then import_tree "$slimroot" "$slim_tag" " (slim)"; fi
fi
