#!/usr/bin/env bash
# Builds the busybox image that the docker plugin's tests, benchmark and example run, with no
# registry: Debian's busybox-static unpacked into a root filesystem and `docker import`ed.
# Idempotent: does nothing when the image exists. Usage: scripts/docker-test-image.sh [IMAGE]
set -euo pipefail

image="${1:-infrakit-busybox:test}"
# The label the tests clean up by; `docker rmi $(docker images -q -f label=...)` removes the image.
label="io.infrakit.test=provider-docker"

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download busybox-static >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download busybox-static >/dev/null
fi
dpkg -x busybox-static_*.deb rootfs
mkdir -p rootfs/tmp rootfs/var/www rootfs/etc
for applet in $(rootfs/bin/busybox --list); do
  [ -e "rootfs/bin/$applet" ] || ln -s busybox "rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > rootfs/etc/passwd
echo 'hello from infrakit' > rootfs/var/www/index.html
tar -C rootfs -c . | docker import \
  --change "LABEL $label" \
  --change 'ENV PATH=/bin' \
  --change 'CMD ["sh"]' \
  - "$image" >/dev/null
echo "built $image"
