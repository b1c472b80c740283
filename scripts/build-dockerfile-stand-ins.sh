#!/usr/bin/env bash
# Makes local stand-ins for the two base images of step 08's Dockerfile, under their own names,
# where they cannot be pulled (no registry here), so that the Dockerfile learners use builds
# unchanged: `docker build` finds the base images in Docker's store and pulls nothing.
#
# usage: scripts/build-dockerfile-stand-ins.sh RUST_IMAGE RUNTIME_IMAGE
#   e.g. rust:1.95-slim-bookworm gcr.io/distroless/cc-debian12:nonroot (scripts/test-kind.sh
#   reads them from the Dockerfile's FROM lines)
#
#   RUST_IMAGE     what the official Rust image holds for the build stage: Debian (the release
#                  its tag names) with gcc and the C library's headers, and the Rust toolchain
#                  of the tag's version, taken from this machine's rustup (RUSTUP_HOME, CARGO_HOME
#                  and PATH as the official image sets them), and this machine's trusted CA
#                  certificates (cargo fetches crates through this machine's network);
#   RUNTIME_IMAGE  what distroless/cc holds for the program: the C library, libgcc, libstdc++,
#                  libssl, CA certificates, and the user nonroot (65532), from the same Debian.
# Not pulled images, but made of the same parts; each is labelled io.kube-workshop.stand-in and
# remade only when its inputs change. Learners with a registry never need this.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/kind.sh"
source "$ROOT/scripts/lib/node.sh"

[ $# -eq 2 ] || die "usage: scripts/build-dockerfile-stand-ins.sh RUST_IMAGE RUNTIME_IMAGE"
rust_image=$1 runtime_image=$2
case "$rust_image" in
  rust:*-slim-*) ;;
  *) die "$rust_image is not an official Rust image's name (rust:<version>-slim-<debian release>)" ;;
esac
rust_tag=${rust_image#rust:}
rust_version=${rust_tag%%-slim-*}
suite=${rust_tag##*-slim-}

# The toolchain: rustup's, of the version the tag names.
have rustup || die "the Rust stand-in is made from rustup's toolchain $rust_version, and rustup is not installed (https://rustup.rs)"
toolchain=$(rustup toolchain list | awk -v v="$rust_version" '$1 ~ "^"v"(\\.[0-9]+)?-x86_64-unknown-linux-gnu$" { print $1 }' | sort -V | tail -n 1)
[ -n "$toolchain" ] || die "no rustup toolchain $rust_version here, for the stand-in of $rust_image: rustup toolchain install $rust_version"
sysroot=$(rustup run "$toolchain" rustc --print sysroot)
full_version=$(rustup run "$toolchain" rustc --version | awk '{ print $2 }')

inputs=$( { cat "$0"; echo "$rust_image $runtime_image $full_version"; } | sha256sum | cut -c1-12)
LABEL=io.kube-workshop.stand-in
stand_in_current() { [ "$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null)" = "$inputs" ]; }

docker_ensure
if stand_in_current "$rust_image" && stand_in_current "$runtime_image"; then
  say "stand-ins for $rust_image and $runtime_image are there already"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "making the stand-ins' Debian root filesystem (mmdebstrap) needs root"
start=$(now)
work=$(mktemp -d "${TMPDIR:-/tmp}/stand-ins.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
debian_rootfs "$suite" "$rootfs" gcc libc6-dev ca-certificates libstdc++6 libgomp1 libssl3

say "stand-in $rust_image: Debian $suite, gcc, Rust $full_version ($toolchain)"
mkdir -p "$rootfs/usr/local/rustup/toolchains/$toolchain" "$rootfs/usr/local/cargo/bin"
# The programs and libraries of the toolchain; its documentation stays out.
cp -a "$sysroot/bin" "$sysroot/lib" "$rootfs/usr/local/rustup/toolchains/$toolchain/"
for b in cargo rustc rustdoc; do
  [ -e "$sysroot/bin/$b" ] && ln -s "/usr/local/rustup/toolchains/$toolchain/bin/$b" "$rootfs/usr/local/cargo/bin/$b"
done
echo "$toolchain" >"$rootfs/usr/local/rustup/default-toolchain"
# This machine's trusted certificates: cargo in the build stage fetches crates from crates.io
# through the same network, and so must trust what this machine trusts.
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
tar -C "$rootfs" --numeric-owner -c . | docker import \
  --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
  --change 'ENV CARGO_HOME=/usr/local/cargo' \
  --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV RUST_VERSION=$full_version" \
  --change "LABEL $LABEL=$inputs" \
  - "$rust_image" >/dev/null

say "stand-in $runtime_image: the shared libraries a Rust program loads, CA certificates, user nonroot"
runtime="$work/runtime"
usrmerged_dir "$runtime"
mkdir -p "$runtime/etc/ssl/certs" "$runtime/home/nonroot" "$runtime/tmp"
chroot "$rootfs" sh -c "$PACKAGE_FILES_SCRIPT" sh libc6 libgcc-s1 libstdc++6 libgomp1 libssl3 | tar -C "$runtime" -x
cp "$rootfs/etc/ssl/certs/ca-certificates.crt" "$runtime/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$runtime/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$runtime/etc/group"
chown 65532:65532 "$runtime/home/nonroot"
chmod 1777 "$runtime/tmp"
node_image_tar "$runtime_image" "$runtime" "\"User\":\"65532\",\"WorkingDir\":\"/home/nonroot\",\"Labels\":{\"$LABEL\":\"$inputs\"}" "$work/runtime.tar"
docker load -i "$work/runtime.tar" >/dev/null
say "stand-ins made in $(( $(now) - start ))s"
