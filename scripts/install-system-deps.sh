#!/usr/bin/env bash
# Installs the system packages Helpline and its tests run: redis-server (the embedded store, and the tests' own
# servers), Dovecot (the tests' IMAP server) and PostgreSQL (the embedded system of record, and the tests' own
# clusters), Chromium and the Noto CJK fonts (the console's browser tests and screenshots; without the fonts Chinese
# renders as boxes). Debian puts PostgreSQL's initdb/pg_ctl under /usr/lib/postgresql/<version>/bin, not on PATH: look
# there too. Idempotent and quiet.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v dovecot >/dev/null || missing+=(dovecot-imapd)
command -v chromium >/dev/null || missing+=(chromium)
compgen -G '/usr/share/fonts/opentype/noto/NotoSansCJK*' >/dev/null || missing+=(fonts-noto-cjk)
if ! command -v initdb >/dev/null && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]} (install them with apt-get as root)" >&2
  exit 1
fi
echo "installing ${missing[*]} ..."
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
