#!/usr/bin/env bash
# Builds the image of a swarm node, a container running its own Docker engine, with no registry:
# the host's own engine binaries (dockerd, containerd, its runc shim, runc, docker-proxy, tini,
# the docker client), a shell, their shared libraries and iptables (legacy), `docker import`ed.
# A node also carries Debian's busybox as the image its engine's tasks run
# (`infrakit-busybox:task`), imported into the node's engine when it starts.
#
# Run the node with: --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined
# --security-opt apparmor=unconfined --security-opt systempaths=unconfined
# --tmpfs /var/lib/docker:exec -v /sys/fs/cgroup:/sys/fs/cgroup (examples/swarm.yml does).
# Its engine listens on tcp://0.0.0.0:2375 without TLS: keep nodes on a private network.
#
# Idempotent: does nothing when the image exists. Usage: scripts/swarm-node-image.sh [IMAGE]
set -euo pipefail

image="${1:-infrakit-swarm-node:local}"
label="io.infrakit.image=swarm-node"

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"/{usr/bin,etc/docker,var/run,var/lib/docker,tmp,proc,sys,dev,run,opt,root}
ln -s usr/bin "$root/bin"
ln -s usr/bin "$root/sbin"

# A file and the shared libraries it loads, at their own paths.
copy_with_libraries() {
  local file="$1" target="$2"
  cp -L "$file" "$root$target"
  for library in $(ldd "$file" 2>/dev/null | grep -o '/[^ ]*' || true); do
    mkdir -p "$root$(dirname "$library")"
    cp -Ln "$library" "$root$library"
  done
}

for binary in dockerd containerd containerd-shim-runc-v2 runc docker-proxy tini docker dash \
  xtables-legacy-multi cat sleep mkdir grep; do
  path="$(command -v "$binary" || true)"
  if [ -z "$path" ]; then
    echo "swarm-node-image: '$binary' is not on this machine; the node needs it" >&2
    exit 1
  fi
  copy_with_libraries "$path" "/usr/bin/$binary"
done
ln -s dash "$root/usr/bin/sh"
for tool in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -s xtables-legacy-multi "$root/usr/bin/$tool"
done
# iptables' extensions (the `standard` target and the matches dockerd's rules use).
extensions="$(dirname "$(readlink -f "$(command -v xtables-legacy-multi)")")/../lib/x86_64-linux-gnu/xtables"
for folder in /usr/lib/x86_64-linux-gnu/xtables "$extensions"; do
  if [ -d "$folder" ]; then
    mkdir -p "$root/usr/lib/x86_64-linux-gnu"
    cp -r "$folder" "$root/usr/lib/x86_64-linux-gnu/"
    for module in "$folder"/*.so; do
      copy_with_libraries "$module" "$module"
    done
    break
  fi
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"

# The image the node's engine runs tasks from: Debian's busybox, one link per applet.
(
  cd "$work"
  if ! apt-get download busybox-static >/dev/null 2>&1; then
    apt-get update -qq
    apt-get download busybox-static >/dev/null
  fi
  dpkg -x busybox-static_*.deb task
  for applet in $(task/bin/busybox --list); do
    [ -e "task/bin/$applet" ] || ln -s busybox "task/bin/$applet"
  done
  tar -C task -c . > "$root/opt/task-rootfs.tar"
)

cat > "$root/usr/bin/infrakit-swarm-node" <<'NODE'
#!/bin/sh
# The node's engine: dockerd on the node's own storage (vfs on its tmpfs), its containers under
# a cgroup of the node's own, listening on TCP on the node's network. Once it answers, the task
# image is imported into it.
dockerd --storage-driver=vfs --tls=false -H tcp://0.0.0.0:2375 -H unix:///var/run/docker.sock \
  --cgroup-parent="/infrakit-swarm-node-$(cat /etc/hostname)" "$@" &
engine=$!
tries=0
until docker info > /dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 600 ]; then break; fi
  sleep 0.1
done
docker import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' /opt/task-rootfs.tar infrakit-busybox:task > /dev/null
wait "$engine"
NODE
chmod +x "$root/usr/bin/infrakit-swarm-node"

tar -C "$root" -c . | docker import \
  --change "LABEL $label" \
  --change 'ENV PATH=/usr/bin' \
  --change 'ENTRYPOINT ["/usr/bin/tini", "--", "/usr/bin/infrakit-swarm-node"]' \
  - "$image" >/dev/null
echo "built $image"
