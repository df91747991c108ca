"""Real servers for tests and benchmarks: Dovecot IMAP on 127.0.0.1, unprivileged."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{root}/home/%u/Maildir
default_internal_user = nobody
default_login_user = nobody
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""




class DovecotMissing(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def run_dovecot():
    """Start `dovecot -F` with a private configuration; yield how to log in; stop it."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.path.exists(binary):
        raise DovecotMissing("dovecot is not installed: run `make test` (it installs dovecot-imapd)")
    root = tempfile.mkdtemp(prefix="dondoc-dovecot-")   # every parent must be world-traversable
    os.chmod(root, 0o755)
    port = free_port()
    for d in ("run", "state", "home"):
        os.makedirs(f"{root}/{d}", mode=0o755)
    os.chown(f"{root}/home", 65534, -1)   # Dovecot will not own mail as root: it runs as nobody
    with open(f"{root}/passwd", "w") as f:
        f.write("dondoc:{PLAIN}mat-khau-thu::::::\n")
    with open(f"{root}/dovecot.conf", "w") as f:
        f.write(DOVECOT_CONF.format(root=root, port=port))
    proc = subprocess.Popen([binary, "-F", "-c", f"{root}/dovecot.conf"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dovecot did not start: {proc.stderr.read().decode()}") from None
                time.sleep(0.05)
        yield {"host": "127.0.0.1", "port": port, "user": "dondoc", "password": "mat-khau-thu", "root": root}
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
