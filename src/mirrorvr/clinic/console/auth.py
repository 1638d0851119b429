"""Who may use the console: a generated token, the bind address, the Host header.

The console binds to localhost unless told to serve the LAN. In both cases every API call and
the live websocket need the token the console generated at start (``secrets.token_urlsafe``),
so no control endpoint is ever open: on a shared clinic computer another local user's browser
cannot stop or start stimulation either. Serving the LAN refuses a token that was not generated
(too short to be unguessable). On localhost the Host header must name localhost, which stops a
web page elsewhere from reaching the console by DNS rebinding.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from mirrorvr.errors import MirrorVRError

#: A generated token has 43 characters (32 random bytes); anything shorter is refused on a LAN.
MIN_TOKEN_CHARS = 32


class ConsoleError(MirrorVRError):
    """The console cannot start as asked (address, token, database)."""


def generate_token() -> str:
    """A fresh unguessable token."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """The console's access rule: bind address and token."""

    host: str
    token: str

    def __post_init__(self) -> None:
        if not self.token:
            raise ConsoleError("the console needs a token; start it with `mirrorvr console`")
        if not is_loopback(self.host) and len(self.token) < MIN_TOKEN_CHARS:
            raise ConsoleError(
                f"serving on {self.host} (the LAN) needs a generated token of at least "
                f"{MIN_TOKEN_CHARS} characters: omit --token to have one generated"
            )

    @property
    def lan(self) -> bool:
        """Whether other computers can reach the console."""
        return not is_loopback(self.host)

    def check(self, presented: str | None) -> bool:
        """Constant-time comparison of a presented token."""
        return bool(presented) and hmac.compare_digest(
            (presented or "").encode(), self.token.encode()
        )

    @property
    def fingerprint(self) -> str:
        """A short, non-secret id of the token for the audit log."""
        return hashlib.sha256(self.token.encode()).hexdigest()[:8]

    def allowed_hosts(self) -> list[str]:
        """Host header values accepted (any on a LAN, where the token is the gate)."""
        if self.lan:
            return ["*"]
        return ["localhost", "127.0.0.1", "[::1]", "::1"]
