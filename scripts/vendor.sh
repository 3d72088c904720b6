#!/usr/bin/env bash
# Rebuild webapp/static/vendor/ from pinned npm packages.
#
# Why: gridlink runs on government intranets with no internet, so every JS/CSS
# file a map page loads must be served by the app itself, never by a CDN.  The
# output of this script is committed, so a fresh clone works without npm; rerun
# it only to change a version (edit PINS below, including the sha512 integrity,
# which is checked so a mirror or a republished tarball cannot slip in other code).
#
# Usage: scripts/vendor.sh          (needs node + npm and access to an npm registry)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/webapp/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# spec  sha512-integrity (from `npm view <spec> dist.integrity`)
PINS=(
  "leaflet@1.9.4 sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=="
  "leaflet.vectorgrid@1.3.0 sha512-kWmj1pKM+MVdo/7Mg5zsB3YrGZvo/uIuiANV9MvWUFOG+Y2xAJzrteDhoIcCgTjHSSRJ36xdeGdIQVhuWjnCZw=="
  "leaflet.markercluster@1.5.3 sha512-vPTw/Bndq7eQHjLBVlWpnGeLa3t+3zGiuM7fJwCkiMFq+nmRuG3RI3f7f4N4TDX7T4NpbAXpR2+NTRSEGfCSeA=="
  "leaflet.heat@0.2.0 sha512-Cd5PbAA/rX3X3XKxfDoUGi9qp78FyhWYurFg3nsfhntcM/MCNK08pRkf4iEenO1KNqwVPKCmkyktjW3UD+h9bQ=="
  "leaflet-draw@1.0.4 sha512-rsQ6saQO5ST5Aj6XRFylr5zvarWgzWnrg46zQ1MEOEIHsppdC/8hnN8qMoFvACsPvTioAuysya/TVtog15tyAQ=="
  "jquery@3.7.1 sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg=="
  "bootstrap@5.2.3 sha512-cEKPM+fwb3cT8NzQZYEu4HilJ3anCrWqh3CHAok1p9jXqMPsPTBhU25fBckEJHJ/p+tTxTFTsFQGM+gaHpi3QQ=="
  "bootstrap@3.4.1 sha512-yN5oZVmRCwe5aKwzRj6736nSmKDX7pLYwsXiCj/EYmo16hODaBiT4En5btW/jhBF/seV+XMx3aYwukYC3A49DA=="
  "leaflet.awesome-markers@2.0.5 sha512-Ne/xDjkGyaujwNVVkv2tyXQUV0ZW7gZ0Mo0FuQY4jp2qWrvXi0hwDBvmZyF/8YOvybyMabTMM/mFWCTd1jZIQA=="
  "piexifjs@1.0.6 sha512-0wVyH0cKohzBQ5Gi2V1BuxYpxWfxF3cSqfFXfPIpl5tl9XLS5z4ogqhUCD20AbHi0h9aJkqXNJnkVev6gwh2ag=="
  "@fortawesome/fontawesome-free@6.7.2 sha512-JUOtgFW6k9u4Y+xeIaEiLr3+cjoUPiAuLXoyKOJSia6Duzb7pq+A76P9ZdPDoAoxHdHzq6gE9/jKBGXlZT8FbA=="
  # Only for their licence texts: libraries compiled into Leaflet.VectorGrid.bundled.min.js.
  "pbf@3.2.1 sha512-ClrV7pNOn7rtmoQVF4TS1vyU0WhYRnP92fzbfF75jAIwpnzdJXf8iTd4CMEqO4yUenH6NDqLiwjqlh6QgZzgLQ=="
  "vector-tile@1.3.0 sha512-ECpYpDhbgTSGIRwaf4bLbiDHcUHDM+LGrBOmV1tdG+Lde8vajJtywP5vGFmMj0Z3cApTV0+9sLWgBCVsRuoAKQ=="
  "topojson-client@2.1.0 sha512-mxXNa6imbsrWXqUKF7iwGl2TkrshZ7dwQF+KuAB4hX9wTmfecNzqSjMmQZNhP2Ztvfwx8rKt0BfQfHF+ki6hQw=="
  "whatwg-fetch@2.0.4 sha512-dcQ1GWpOD/eEQ97k66aiEVpNnapVj90/+R+SXTPYGHpYBBypfKJEQjLrvMZ7YXbKm21gXd4NcuxUTjiv1YtLng=="
  "geojson-vt@2.2.0 sha512-mPANq0QJchU6tUxI4Lm/nE1jXLK9Mnojlw4BYojEZwuPrA5b25dS1gGrQmKV+r+jyeBN/j4/yZ0vFzyySNHtAg=="
)

# Download and unpack every pin into $WORK/<spec>/package after checking its integrity.
for pin in "${PINS[@]}"; do
  spec="${pin%% *}"
  want="${pin#* }"
  dir="$WORK/$spec"
  mkdir -p "$dir"
  (cd "$WORK" && npm pack "$spec" --silent --pack-destination "$dir" >/dev/null)
  tgz="$(ls "$dir"/*.tgz)"
  got="sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
  if [[ "$got" != "$want" ]]; then
    echo "integrity mismatch for $spec: $got" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$dir"
done

pkg() { echo "$WORK/$1/package"; }

# put SRC... DESTDIR : copy files into DESTDIR (created as needed), mode 644.
put() {
  local dest="${*: -1}"
  mkdir -p "$dest"
  for src in "${@:1:$#-1}"; do
    install -m 644 "$src" "$dest/"
  done
}

rm -rf "$VENDOR"
mkdir -p "$VENDOR"

p="$(pkg leaflet@1.9.4)"
put "$p"/dist/leaflet.js "$p"/dist/leaflet.css "$p"/LICENSE "$VENDOR/leaflet"
put "$p"/dist/images/*.png "$VENDOR/leaflet/images"

p="$(pkg leaflet.vectorgrid@1.3.0)"
put "$p"/dist/Leaflet.VectorGrid.bundled.min.js "$VENDOR/leaflet.vectorgrid"
# The npm tarball has no licence file: the Beerware notice lives in its README.
sed -n '/"THE BEER-WARE LICENSE"/,/buy me a beer/p' "$p/README.md" >"$VENDOR/leaflet.vectorgrid/LICENSE"
[[ -s "$VENDOR/leaflet.vectorgrid/LICENSE" ]] || { echo "vectorgrid licence not found" >&2; exit 1; }
mkdir -p "$VENDOR/leaflet.vectorgrid/bundled-licenses"
install -m 644 "$(pkg pbf@3.2.1)/LICENSE" "$VENDOR/leaflet.vectorgrid/bundled-licenses/pbf.LICENSE"
install -m 644 "$(pkg vector-tile@1.3.0)/LICENSE.txt" "$VENDOR/leaflet.vectorgrid/bundled-licenses/vector-tile.LICENSE"
install -m 644 "$(pkg topojson-client@2.1.0)/LICENSE.md" "$VENDOR/leaflet.vectorgrid/bundled-licenses/topojson-client.LICENSE"
install -m 644 "$(pkg whatwg-fetch@2.0.4)/LICENSE" "$VENDOR/leaflet.vectorgrid/bundled-licenses/whatwg-fetch.LICENSE"
install -m 644 "$(pkg geojson-vt@2.2.0)/LICENSE" "$VENDOR/leaflet.vectorgrid/bundled-licenses/geojson-vt.LICENSE"

p="$(pkg leaflet.markercluster@1.5.3)"
put "$p"/dist/leaflet.markercluster.js "$p"/dist/MarkerCluster.css "$p"/dist/MarkerCluster.Default.css \
  "$p"/MIT-LICENCE.txt "$VENDOR/leaflet.markercluster"

p="$(pkg leaflet.heat@0.2.0)"
put "$p"/dist/leaflet-heat.js "$p"/LICENSE "$VENDOR/leaflet.heat"

p="$(pkg leaflet-draw@1.0.4)"
put "$p"/dist/leaflet.draw.js "$p"/dist/leaflet.draw.css "$VENDOR/leaflet-draw"
put "$p"/dist/images/spritesheet.png "$p"/dist/images/spritesheet-2x.png "$p"/dist/images/spritesheet.svg \
  "$VENDOR/leaflet-draw/images"
# The npm tarball has no licence file; this is upstream's MIT-LICENSE.md (Leaflet/Leaflet.draw).
cat >"$VENDOR/leaflet-draw/LICENSE" <<'EOF'
Copyright 2012-2016 Jacob Toye and Leaflet

Permission is hereby granted, free of charge, to any person obtaining
a copy of this software and associated documentation files (the
"Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so, subject to
the following conditions:

The above copyright notice and this permission notice shall be
included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE
LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION
OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
EOF

# The phone pages' photo shrinking (webapp/static/js/page.js) carries the time a photo was taken into the
# smaller copy; loaded only when a photo is shrunk.
p="$(pkg piexifjs@1.0.6)"
put "$p"/piexif.js "$p"/LICENSE.txt "$VENDOR/piexifjs"

p="$(pkg jquery@3.7.1)"
put "$p"/dist/jquery.min.js "$p"/LICENSE.txt "$VENDOR/jquery"

p="$(pkg bootstrap@5.2.3)"
put "$p"/dist/css/bootstrap.min.css "$VENDOR/bootstrap/css"
put "$p"/dist/js/bootstrap.bundle.min.js "$VENDOR/bootstrap/js"
put "$p"/LICENSE "$VENDOR/bootstrap"

# folium still links Bootstrap 3's glyphicons stylesheet (the default prefix of
# folium.Icon).  Bootstrap 3 itself is not needed: extract just the @font-face and
# the .glyphicon* rules, and ship only the woff2 font.
p="$(pkg bootstrap@3.4.1)"
put "$p"/fonts/glyphicons-halflings-regular.woff2 "$VENDOR/glyphicons/fonts"
put "$p"/LICENSE "$VENDOR/glyphicons"
node - "$p/dist/css/bootstrap.min.css" "$VENDOR/glyphicons/glyphicons.min.css" <<'EOF'
const fs = require("fs");
const [src, dest] = process.argv.slice(2);
const rules = fs.readFileSync(src, "utf8").match(/[^{}]+\{[^{}]*\}/g)
  .filter((r) => r.slice(0, r.indexOf("{")).split(",").every((s) => s.trim().startsWith(".glyphicon")));
if (rules.length < 200) throw new Error("glyphicon rules not found");
fs.writeFileSync(dest,
  "/* Glyphicons Halflings rules extracted from Bootstrap 3.4.1 (MIT) by scripts/vendor.sh */\n" +
  '@font-face{font-family:"Glyphicons Halflings";' +
  'src:url(fonts/glyphicons-halflings-regular.woff2) format("woff2")}\n' +
  rules.map((r) => r.trim()).join("\n") + "\n");
EOF

p="$(pkg leaflet.awesome-markers@2.0.5)"
# Not the .min.js: that build is stale and ignores extraClasses (used for folium.Icon(angle=...)).
put "$p"/dist/leaflet.awesome-markers.js "$p"/dist/leaflet.awesome-markers.css "$p"/LICENSE \
  "$VENDOR/leaflet.awesome-markers"
put "$p"/dist/images/markers-soft.png "$p"/dist/images/markers-soft@2x.png \
  "$p"/dist/images/markers-shadow.png "$p"/dist/images/markers-shadow@2x.png \
  "$VENDOR/leaflet.awesome-markers/images"

p="$(pkg @fortawesome/fontawesome-free@6.7.2)"
put "$p"/css/all.min.css "$VENDOR/fontawesome-free/css"
put "$p"/webfonts/*.woff2 "$VENDOR/fontawesome-free/webfonts"
put "$p"/LICENSE.txt "$VENDOR/fontawesome-free"
# Ship woff2 only (every browser that runs Bootstrap 5 reads it): drop the .ttf fallbacks.
sed -E -i 's@,url\(\.\./webfonts/[^)]*\.ttf\) format\("truetype"\)@@g' "$VENDOR/fontawesome-free/css/all.min.css"

# folium's leaflet.awesome.rotate.css has no npm package: it only maps the
# fa-rotate-<angle> class that folium.Icon(angle=...) emits to a CSS rotation.
mkdir -p "$VENDOR/folium"
{
  echo "/* Equivalent of folium's leaflet.awesome.rotate.css, generated by scripts/vendor.sh */"
  for deg in $(seq 0 359); do
    echo ".fa-rotate-$deg{transform:rotate(${deg}deg)}"
  done
} >"$VENDOR/folium/leaflet.awesome.rotate.css"

# Source maps are not shipped; drop the comments pointing at them so browser
# devtools do not request missing files.
find "$VENDOR" -name '*.js' -o -name '*.css' | while read -r f; do
  sed -E -i 's@/[*/]# sourceMappingURL=[^ *]*( \*/)?@@' "$f"
done

cat >"$VENDOR/README.md" <<'EOF'
# Vendored browser assets

Generated by `scripts/vendor.sh` from pinned npm tarballs (sha512-checked); do not
edit by hand, rerun the script.  They are committed because gridlink runs on
intranets without internet access: map pages must load nothing from a CDN.
`webapp/maps.py` references the map files; `webapp/static/js/page.js` loads `piexifjs/` when it shrinks a photo.

| Directory | npm package | Version | Licence |
|---|---|---|---|
| `leaflet/` | leaflet | 1.9.4 | BSD-2-Clause |
| `leaflet.vectorgrid/` | leaflet.vectorgrid (`Leaflet.VectorGrid.bundled.min.js`) | 1.3.0 | Beerware; bundles pbf 3 (BSD-3-Clause), vector-tile 1 (BSD-3-Clause), topojson-client 2 (BSD-3-Clause), whatwg-fetch 2 (MIT), geojson-vt 2 (ISC): see `bundled-licenses/` |
| `leaflet.markercluster/` | leaflet.markercluster | 1.5.3 | MIT |
| `leaflet.heat/` | leaflet.heat (includes simpleheat) | 0.2.0 | BSD-2-Clause |
| `leaflet-draw/` | leaflet-draw | 1.0.4 | MIT |
| `jquery/` | jquery | 3.7.1 | MIT |
| `bootstrap/` | bootstrap (`bootstrap.min.css`, `bootstrap.bundle.min.js`) | 5.2.3 | MIT |
| `glyphicons/` | bootstrap (Glyphicons Halflings font and rules only) | 3.4.1 | MIT |
| `leaflet.awesome-markers/` | leaflet.awesome-markers | 2.0.5 | MIT |
| `fontawesome-free/` | @fortawesome/fontawesome-free (`css/all.min.css`, woff2 webfonts) | 6.7.2 | Icons CC-BY-4.0, fonts OFL-1.1, code MIT |
| `piexifjs/` | piexifjs (`piexif.js`) | 1.0.6 | MIT |
| `folium/` | none: `leaflet.awesome.rotate.css` written for gridlink | - | same as gridlink |

Changes made to the upstream files:

- `sourceMappingURL` comments removed (source maps are not shipped).
- `leaflet.awesome-markers/`: the unminified `leaflet.awesome-markers.js` is shipped because the
  package's `.min.js` is a stale build that ignores `extraClasses` (folium's icon rotation).
- `fontawesome-free/css/all.min.css`: `.ttf` fallback URLs removed, only woff2 fonts shipped.
- `glyphicons/glyphicons.min.css`: the `.glyphicon*` rules extracted from Bootstrap 3.4.1's
  `bootstrap.min.css` with a woff2-only `@font-face`; folium links this stylesheet for
  `folium.Icon`'s default `glyphicon` prefix.
- `folium/leaflet.awesome.rotate.css`: folium loads this file from its GitHub repository and
  no npm package ships it, so it is generated: one `.fa-rotate-<angle>` rule per degree,
  the classes `folium.Icon(angle=...)` emits.
- `leaflet-draw/LICENSE` and `leaflet.vectorgrid/LICENSE`: the npm tarballs have no licence
  file; the texts come from upstream's `MIT-LICENSE.md` and README respectively.
EOF

echo "vendor assets written to $VENDOR ($(du -sh "$VENDOR" | cut -f1))"
