"""Two Linux network namespaces joined by a veth pair: two "machines" on one computer.

Used by the two-node tests and the node-to-node latency benchmark. Addresses exist only
inside the namespaces; everything is removed on exit. Needs root (or CAP_NET_ADMIN) and
``ip`` from iproute2; :func:`netns_available` says whether this machine can, and why not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be created here (reason in the message)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def netns_available() -> str:
    """ "" if namespaces can be created here, else the reason they cannot."""
    if shutil.which("ip") is None:
        return "the `ip` command (Debian package iproute2) is not installed"
    name = f"mvprobe{os.getpid()}"
    res = _ip("netns", "add", name, check=False)
    if res.returncode != 0:
        return f"`ip netns add` failed: {res.stderr.strip() or res.stdout.strip()} (needs root)"
    _ip("netns", "del", name, check=False)
    return ""


@dataclass
class Node:
    """One namespace: its name and address."""

    ns: str
    dev: str
    addr: str

    def cmd(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this namespace."""
        return ["ip", "netns", "exec", self.ns, *argv]


class VethPair:
    """Context manager: namespaces ``a`` and ``b`` with addresses ``10.<x>.<y>.1`` / ``.2``.

    :meth:`cut` and :meth:`restore` take the link down and up (a pulled cable).
    """

    def __init__(self, subnet: str = "10.77.0") -> None:
        tag = uuid.uuid4().hex[:6]
        # names must be unique on the host: several test runs share this machine
        self.a = Node(f"mvr{tag}a", f"mv{tag}a", f"{subnet}.1")
        self.b = Node(f"mvr{tag}b", f"mv{tag}b", f"{subnet}.2")

    def __enter__(self) -> VethPair:
        try:
            _ip("netns", "add", self.a.ns)
            _ip("netns", "add", self.b.ns)
            _ip("link", "add", self.a.dev, "type", "veth", "peer", "name", self.b.dev)
            for n in (self.a, self.b):
                _ip("link", "set", n.dev, "netns", n.ns)
                _ip("-n", n.ns, "addr", "add", f"{n.addr}/24", "dev", n.dev)
                _ip("-n", n.ns, "link", "set", n.dev, "up")
                _ip("-n", n.ns, "link", "set", "lo", "up")
        except (subprocess.CalledProcessError, OSError) as e:
            self.__exit__()
            detail = getattr(e, "stderr", "") or str(e)
            raise NetnsUnavailable(f"cannot set up network namespaces: {detail.strip()}") from None
        return self

    def cut(self) -> None:
        """Take the link down on both ends."""
        for n in (self.a, self.b):
            _ip("-n", n.ns, "link", "set", n.dev, "down")

    def restore(self) -> None:
        """Bring the link back up."""
        for n in (self.a, self.b):
            _ip("-n", n.ns, "link", "set", n.dev, "up")

    def __exit__(self, *exc: object) -> None:
        # deleting a namespace deletes its end of the veth, and with it the peer
        for n in (self.a, self.b):
            _ip("netns", "del", n.ns, check=False)


def lsl_config(session_id: str, peers: Sequence[str]) -> str:
    """liblsl config for a node in a namespace: its own session, peers queried directly."""
    return (
        "[multicast]\nResolveScope = link\n\n"
        f"[lab]\nSessionID = {session_id}\nKnownPeers = {{{', '.join(peers)}}}\n\n"
        "[ports]\nIPv6 = disable\n"
    )
