#!/usr/bin/env bash
# Install (as root) or name (otherwise) the system packages gridlink needs on Debian/Ubuntu:
# the PostgreSQL server, the PostGIS package matching its major version, Chromium and a CJK font for browser tests.
set -euo pipefail

pg_major() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sed -E 's#.*/postgresql/([0-9]+)/bin#\1#' | sort -n | tail -1; }

missing() {
  local major; major=$(pg_major)
  if [ -z "$major" ]; then echo "postgresql"; return; fi
  [ -f "/usr/share/postgresql/$major/extension/postgis.control" ] || echo "postgresql-$major-postgis-3"
  [ -x /usr/bin/chromium ] || echo "chromium"
  # A CJK font, so browser screenshots show Chinese text rather than empty boxes.
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || echo "fonts-wqy-microhei"
  python3 -c 'import venv, ensurepip' 2>/dev/null || echo "python3-venv"
}

need=$(missing | tr '\n' ' ')
[ -z "${need// /}" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "gridlink needs these system packages: $need" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y $need" >&2
  exit 1
fi

echo "installing system packages: $need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $need >/dev/null
# A machine with no PostgreSQL at all learns its major version only now: fetch the matching PostGIS.
rest=$(missing | tr '\n' ' ')
[ -z "${rest// /}" ] || apt-get install -y -qq $rest >/dev/null
rest=$(missing | tr '\n' ' ')
if [ -n "${rest// /}" ]; then echo "still missing after install: $rest" >&2; exit 1; fi
