"""Endpoint URL parsing and the loopback rule, without importing ``urllib`` or ``http.client``.

Validation runs when the wrapper is configured, on the cold-start path, so it must be cheap;
the HTTP machinery is only imported at the first flush.
"""

from __future__ import annotations

from operator import itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple, Optional

    class _Fields(NamedTuple):
        scheme: str  # "http" or "https"
        host: str  # without IPv6 brackets
        port: int
        base_path: str  # "" or "/some/base", never with a trailing slash
else:

    class _Fields(tuple):
        """What ``namedtuple("_Fields", "scheme host port base_path")`` makes, written out:
        ``typing.NamedTuple`` would import ``typing`` on the cold-start path, and
        ``namedtuple`` builds its class through ``exec`` (50 µs of every cold start)."""

        __slots__ = ()

        def __new__(cls, scheme, host, port, base_path):
            return tuple.__new__(cls, (scheme, host, port, base_path))

        def __getnewargs__(self):
            return tuple(self)

        def __repr__(self):
            scheme, host, port, base_path = self
            return (
                f"{type(self).__name__}(scheme={scheme!r}, host={host!r}, port={port!r}, "
                f"base_path={base_path!r})"
            )

        scheme = property(itemgetter(0))
        host = property(itemgetter(1))
        port = property(itemgetter(2))
        base_path = property(itemgetter(3))


class EndpointError(ValueError):
    """The endpoint URL cannot be used; the message says why and names the variable."""


class Endpoint(_Fields):
    __slots__ = ()

    def path_for(self, resource: str) -> str:
        return f"{self.base_path}/{resource}"

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


# A host name this long in one label, or in mixed case, is more likely a credential pasted
# into the URL (an Instana agent key is 22 characters of base64) than a host.
_LONGEST_PLAIN_LABEL = 15
_REDACTED = "<redacted>"


def shown_host(host: str) -> str:
    """``host`` for a log line or message, or a stand-in when it does not look like a host name.

    With the agent key and the endpoint URL swapped, the "host" is the key: it must not reach a
    log line. Names with a dot, IP addresses and short lower-case names (``localhost``, a
    container such as ``acceptor``) are shown as they are.
    """
    if "." in host or ":" in host:
        return host
    if len(host) <= _LONGEST_PLAIN_LABEL and host == host.lower():
        return host
    return f"{_REDACTED} ({len(host)} characters that do not look like a host name)"


def shown_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` for a log line: no credentials, path or query, and the
    host through ``shown_host``. A value without a scheme is shown only if it looks like a host."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return shown_host(url.strip().partition("/")[0].rpartition("@")[2]) or "''"
    authority = rest.partition("/")[0].partition("?")[0].partition("#")[0].rpartition("@")[2]
    if authority.startswith("["):
        host, _, after = authority[1:].partition("]")
        return f"{scheme}://[{host}]{after}"
    host, colon, port = authority.partition(":")
    return f"{scheme}://{shown_host(host)}{colon}{port}"


def is_loopback(host: str) -> bool:
    host = host.lower()
    if host in ("localhost", "::1", "0:0:0:0:0:0:0:1") or host.endswith(".localhost"):
        return True
    parts = host.split(".")
    return (
        len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)
    )


def parse_endpoint(
    url: str, variable: str = "INSTANA_ENDPOINT_URL", *, proxy: bool = False
) -> Endpoint:
    """Parse ``url``; plain ``http`` is refused unless the host is loopback (docs/CONTRACT.md §3).

    A ``proxy`` may be plain http anywhere: an https endpoint is reached through a CONNECT
    tunnel, so the key never crosses the proxy unencrypted.
    """
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise EndpointError(f"{variable} must be an https:// URL, got {shown_url(url)!r}")
    authority, slash, path = rest.partition("/")
    authority = authority.rpartition("@")[2]  # credentials in the URL are not ours to send
    port: Optional[int] = None
    if authority.startswith("["):
        host, _, after = authority[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else ""
    else:
        host, _, port_text = authority.partition(":")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise EndpointError(f"{variable} has an invalid port: {shown_url(url)!r}")
        port = int(port_text)
    if not host:
        raise EndpointError(f"{variable} has no host: {shown_url(url)!r}")
    if scheme == "http" and not proxy and not is_loopback(host):
        raise EndpointError(
            f"{variable} uses plain http:// to {shown_host(host)!r}; the agent key must not "
            "cross the network unencrypted, so use https:// (plain http is accepted only for "
            "loopback hosts such as the local acceptor)"
        )
    base_path = ("/" + path.split("?", 1)[0].split("#", 1)[0]).rstrip("/") if slash else ""
    return Endpoint(scheme, host, port or (443 if scheme == "https" else 80), base_path)


def proxy_authorization(url: str) -> Optional[str]:
    """The ``Proxy-Authorization`` value for ``http://user:password@proxy:port``, if any."""
    authority = url.strip().partition("://")[2].partition("/")[0]
    userinfo, at, _ = authority.rpartition("@")
    if not at:
        return None
    # Only proxies with credentials pay for these imports.
    from base64 import b64encode
    from urllib.parse import unquote

    user, _, password = userinfo.partition(":")
    token = f"{unquote(user)}:{unquote(password)}".encode()
    return "Basic " + b64encode(token).decode("ascii")
