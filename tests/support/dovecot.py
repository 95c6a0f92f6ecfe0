"""A real Dovecot IMAP server in a temporary folder (config per shared/TESTING.md), stopped by PID."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port, wait_for_greeting

USER = "support"
PASSWORD = "secret"

CONFIG = """\
instance_name = helpline-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
namespace inbox {{
  inbox = yes
  mailbox Processed {{
    auto = create
  }}
}}
"""


class Dovecot:
    """`root` must be reachable by the dovecot user: pytest's tmp dirs are 0700, so by default use a 0755 mkdtemp."""

    def __init__(self, root: Path | None = None, extra_config: str = "") -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="helpline-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.config = self.root / "dovecot.conf"
        self.extra_config = extra_config

    def start(self) -> Dovecot:
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root / "mail", "nobody", "nogroup")
        (self.root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        self.config.write_text(CONFIG.format(root=self.root, port=self.port) + self.extra_config + "\n")
        self.process = subprocess.Popen(["dovecot", "-F", "-c", str(self.config)])
        wait_for_greeting(self.port, b"* OK")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(15)  # the next start fails while the old master lives
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.process = subprocess.Popen(["dovecot", "-F", "-c", str(self.config)])
        wait_for_greeting(self.port, b"* OK")
