{{/* Waits for the node's engine, then gives it the labels that link it to its instance and
     waits until it has them (a node joins with the labels its engine has). */ -}}
tries=0
until docker info > /dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 600 ]; then echo "the node's engine did not start" >&2; exit 1; fi
  sleep 0.1
done
mkdir -p /etc/docker
cat > /etc/docker/daemon.json << 'LABELS'
{"labels": {{ INFRAKIT_LABELS | jsonEncode }}}
LABELS
kill -s HUP "$(cat /var/run/docker.pid)"
tries=0
until docker info 2> /dev/null | grep -q "{{ INFRAKIT_LINK }}"; do
  tries=$((tries + 1))
  if [ "$tries" -gt 600 ]; then echo "the node's engine did not take its labels" >&2; exit 1; fi
  sleep 0.1
done
