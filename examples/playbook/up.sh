{{/* =% sh %= */}}
{{/* Starts `infrakit up` on the quickstart in the background and waits for its manager. */}}
{{ $size := flag "size" "int" "how many web servers" 3 }}
{{- $message := flag "message" "string" "what each server says when it starts" "hello" }}
{{- var "size" $size }}{{ var "message" $message }}
set -e
home="${INFRAKIT_HOME:-$HOME/.infrakit}"
mkdir -p "$home"
cat > "$home/quickstart.yml" <<'SPEC'
{{ include "web.ikt" }}
SPEC
nohup "$INFRAKIT" up "$home/quickstart.yml" > "$home/quickstart.log" 2>&1 &
echo "infrakit up runs as process $! (log: $home/quickstart.log)"
tries=0
until "$INFRAKIT" group describe web > /dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 100 ]; then echo "the manager did not start; see $home/quickstart.log" >&2; exit 1; fi
  sleep 0.2
done
"$INFRAKIT" group ls
