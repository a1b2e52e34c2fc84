#!/usr/bin/env bash
# Put the dashboard's browser assets into Solara's asset cache from the npm registry, so the
# dashboard works without access to a CDN (an offline classroom, a locked-down network). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$(.venv/bin/python -c 'import solara.server.settings as s; print(s.assets.proxy_cache_dir)')
# The versions are those solara 1.64 (with ipyvue 1.x, Vue 2) and Mesa 3.5 ask for.
for spec in "@widgetti/solara-vuetify-app@10.1.1" "@widgetti/vue-grid-layout@2.3.13-alpha.2" "requirejs@2.3.6" \
  "font-awesome@4.5.0" "mermaid@10.8.0"; do
  dest="$cache/$spec"
  [ -d "$dest" ] && [ -n "$(ls -A "$dest")" ] && continue
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$dest"
  cp -r "$tmp"/package/. "$dest"/
  rm -rf "$tmp"
done
echo "dashboard assets in $cache"
