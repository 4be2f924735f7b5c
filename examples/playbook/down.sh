{{/* =% sh %= */}}
{{/* Destroys the quickstart's servers and stops the `infrakit up` that `up` started. */}}
set -e
"$INFRAKIT" group destroy web
tries=0
while "$INFRAKIT" group ls -q | grep -qx web; do
  tries=$((tries + 1))
  if [ "$tries" -gt 150 ]; then echo "web is still being destroyed" >&2; exit 1; fi
  sleep 0.2
done
"$INFRAKIT" plugin stop group
