#!/usr/bin/env bash
# The wheel as a user gets it (run by `make test`): built from a clean copy of the checkout, installed (not editable,
# with constraints.txt) into a fresh venv outside the checkout; every module of the source tree must import from
# that venv, and `helpline check` and `helpline parse` must work from an empty folder (the packaged settings.toml,
# Procfile and templates). pip's cache keeps the reinstall fast.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
GOLDEN=tests/golden/email/gb2312_refund_qp   # a GB2312 mail: charset handling and OpenCC data come along too
work=$(mktemp -d)
chmod 755 "$work"  # the embedded PostgreSQL runs as the postgres user, which must reach var/postgres in it
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# A copy of what git would commit (tracked and new files, not ignored ones): no stale build/ or egg-info leaks in.
mkdir "$work/src" "$work/elsewhere"
git ls-files -z --cached --others --exclude-standard |
  tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$work/src"

"$PYTHON" -m venv "$work/venv"
pip() {
  # This machine's pip configuration names extra index folders that may not exist: one warning per package.
  "$work/venv/bin/pip" --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2)
}
pip install --upgrade pip -c constraints.txt
pip wheel --no-deps -w "$work/dist" "$work/src"
pip install -c constraints.txt "$work"/dist/helpline-*.whl

cd "$work/elsewhere"
unset PYTHONPATH
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(HELPLINE_[A-Za-z0-9_]*\)=.*/\1/p')

# Every module of the source tree imports, from the venv's site-packages (-I: neither the checkout nor this folder
# is on sys.path), and the package data is there.
"$work/venv/bin/python" -I - "$work/src" <<'PY'
import importlib, pathlib, sys, sysconfig

src = pathlib.Path(sys.argv[1])
site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
packages = ["core", "ingest", "router", "channels", "templates", "workers", "web", "helpline"]
modules = sorted(
    ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
    for package in packages for path in (src / package).rglob("*.py")
    if path.name != "__main__.py"  # `python -m helpline` runs the command line on import; checked below instead
)
wrong = []
for name in modules:
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # report every missing module at once
        wrong.append(f"{name}: {type(exc).__name__}: {exc}")
        continue
    if not pathlib.Path(module.__file__).resolve().is_relative_to(site):
        wrong.append(f"{name}: imported from {module.__file__}, not from the installed wheel")
if not (site / "helpline" / "__main__.py").is_file():
    wrong.append("helpline/__main__.py is not in the wheel")
templates = src / "templates"
for j2 in templates.rglob("*.j2"):
    if not (site / "templates" / j2.relative_to(templates)).is_file():
        wrong.append(f"template {j2.relative_to(src)} is not in the wheel")
console = src / "web" / "console"
for data in [*console.glob("templates/*.html"), *console.glob("static/**/*.*")]:
    if not (site / "web" / "console" / data.relative_to(console)).is_file():
        wrong.append(f"console file {data.relative_to(src)} is not in the wheel")
from helpline.supervisor import procfile_entries
from core.settings import settings_path
if [name for name, _ in procfile_entries()] != [line.split(":")[0] for line in (src / "Procfile").read_text().splitlines() if line.strip()]:
    wrong.append("the installed Procfile differs from the checkout's")
if settings_path().read_text() != (src / "settings.toml").read_text():
    wrong.append("the installed default settings differ from the checkout's settings.toml")
if wrong:
    sys.exit("wheel check failed:\n  " + "\n  ".join(wrong))
print(f"wheel check: {len(modules)} modules and {len(list(templates.rglob('*.j2')))} templates import from the wheel")
PY

"$work/venv/bin/helpline" check | grep -q "default_settings.toml: OK" || { echo "wheel check: helpline check failed"; exit 1; }
"$work/venv/bin/helpline" parse "$work/src/$GOLDEN.eml" > parsed.json
"$work/venv/bin/python" -I - "$work/src/$GOLDEN.json" parsed.json <<'PY'
import json, sys

golden, parsed = json.load(open(sys.argv[1])), json.loads(open(sys.argv[2]).read())
wrong = [key for key in ("subject", "language", "text") if golden.get(key) != parsed.get(key)]
if wrong:
    sys.exit(f"wheel check: helpline parse disagrees with the golden file on {wrong}")
PY

# `helpline run` from the same folder: the packaged Procfile, an embedded Redis in ./var, every process up (the
# ready block), and a command against the running store; then Ctrl-C (SIGINT) stops it all.
read -r smtp_port web_port relay_port < <("$work/venv/bin/python" -I -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
HELPLINE_EMAIL__INBOUND__PORT=$smtp_port HELPLINE_WEB__PORT=$web_port HELPLINE_EMAIL__OUTBOUND__PORT=$relay_port \
  HELPLINE_WORKERS__COUNT=1 "$work/venv/bin/helpline" run > run.log 2>&1 &
run_pid=$!
trap 'kill -INT $run_pid 2>/dev/null || true; wait $run_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 450); do
  grep -q "Ctrl-C stops everything" run.log && break
  kill -0 $run_pid 2>/dev/null || break
  sleep 0.2
done
if ! grep -q "Ctrl-C stops everything" run.log; then
  echo "wheel check: helpline run did not get ready:"; cat run.log; exit 1
fi
HELPLINE_EMAIL__INBOUND__PORT=$smtp_port "$work/venv/bin/helpline" queues > /dev/null
# The console's page and its vendored script, served from the installed package.
"$work/venv/bin/python" -I - "$web_port" <<'PY' || { echo "wheel check: the console is not served"; exit 1; }
import sys, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}/console"
assert "csrf_token" in urllib.request.urlopen(f"{base}/sign-in", timeout=10).read().decode()
assert urllib.request.urlopen(f"{base}/static/vendor/htmx-2.0.11.min.js", timeout=10).read().startswith(b"var htmx")
PY
kill -INT $run_pid
wait $run_pid || { echo "wheel check: helpline run did not stop cleanly:"; cat run.log; exit 1; }
echo "wheel check: helpline check, parse, run and queues work from a folder outside the checkout" \
  "($((SECONDS - started))s)"
