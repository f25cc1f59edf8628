"""A private sshd on 127.0.0.1 for the ``[broker] ssh`` tests: a real jump host on loopback.

It runs the system's ``/usr/sbin/sshd`` (Debian's openssh-server) in the foreground on a free
port with a host key generated for it, accepting one generated client key and nothing else (no
passwords). ``ssh_config`` is a client config file naming it as host ``bastion`` with that key
and its host key already known: a workspace points ``[broker] ssh_config`` at it, so nothing in
the user's ``~/.ssh`` is read or written.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from celerydesk.core.ports import free_port

SSHD = "/usr/sbin/sshd"


def available() -> str:
    """Why a private sshd cannot run here ("" when it can)."""
    if not Path(SSHD).is_file():
        return f"no {SSHD}: install openssh-server (.ci/install-system-deps)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "no ssh client: install openssh-client (.ci/install-system-deps)"
    return ""


@dataclass
class Sshd:
    process: subprocess.Popen
    port: int
    ssh_config: Path  # Host bastion, with the client key and the host key known
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def start_sshd(folder: Path) -> Sshd:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_key'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", f"PidFile {folder / 'sshd.pid'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "AllowTcpForwarding yes", "PermitRootLogin prohibit-password", "LogLevel VERBOSE", ""]))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    host_pub = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    ssh_config = folder / "ssh_config"
    ssh_config.write_text("\n".join([
        "Host bastion", "  HostName 127.0.0.1", f"  Port {port}", f"  User {getpass.getuser()}",
        f"  IdentityFile {folder / 'client_key'}", "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {folder / 'known_hosts'}", "  StrictHostKeyChecking yes", ""]))
    log = folder / "sshd.log"
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                               stderr=open(log, "wb"), start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Sshd(process, port, ssh_config, log)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sshd did not listen on {port}: {log.read_text()}")
