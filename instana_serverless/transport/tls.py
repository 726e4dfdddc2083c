"""TLS for the transport, on the C module ``_ssl`` rather than ``ssl``.

What a cold start pays before its first https flush, measured in ``bench/https.py``: ``ssl``
imports ``socket``, ``selectors``, ``enum`` conversions and more (about half of ``import ssl``)
that a client sending one POST does not use, and ``ssl.create_default_context()`` parses the
whole system CA bundle (~150 certificates, ~20 ms) before the first handshake. Here:

- the context is ``_ssl``'s own, created the way ``ssl.SSLContext(PROTOCOL_TLS_CLIENT)``
  creates it: certificate and host name verification on, TLS 1.2 at least;
- where the system's (or ``SSL_CERT_DIR``'s) CA directory holds OpenSSL's subject-hash links
  (Debian, Ubuntu, Alpine), only that directory is registered: OpenSSL then reads the one root
  a handshake needs, when it needs it. Elsewhere (Amazon Linux ships one bundle file), and
  whenever ``SSL_CERT_FILE`` is set, the default paths are loaded as ``ssl`` would;
- one verifying context serves the whole process, however often the client is configured.

``ssl.SSLContext`` is a subclass of ``_ssl._SSLContext`` and wraps sockets through the same
``_wrap_socket``, so the handshake, the verification and the errors (``ssl.SSLError`` and its
subclasses are ``_ssl``'s classes) are the very ones ``ssl`` gives.
"""

from __future__ import annotations

import _ssl
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket
    from typing import Any, Dict

_TLS_1_2 = 0x0303  # ssl.TLSVersion.TLSv1_2
_contexts: Dict[bool, Any] = {}

# A closed TLS stream: what ``ssl``'s ``recv`` turns into b"" (suppress_ragged_eofs).
CLOSED_ERRORS = (_ssl.SSLZeroReturnError, _ssl.SSLEOFError)


def _is_hashed_dir(path: str) -> bool:
    """Whether ``path`` holds ``<8 hex digits>.<n>`` entries, the layout OpenSSL reads lazily."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    for name in names:
        digits, dot, n = name.partition(".")
        if dot and len(digits) == 8 and n.isdigit():
            try:
                int(digits, 16)
            except ValueError:
                continue
            return True
    return False


def _load_roots(context: Any) -> None:
    if os.environ.get("SSL_CERT_FILE"):
        context.set_default_verify_paths()  # the user named a bundle: read it, as ssl would
        return
    capath = os.environ.get("SSL_CERT_DIR") or _ssl.get_default_verify_paths()[3]
    if capath and any(_is_hashed_dir(p) for p in capath.split(os.pathsep) if p):
        context.load_verify_locations(None, capath)
    else:
        context.set_default_verify_paths()


def client_context(verify: bool) -> Any:
    """The process's client context (``verify=False`` only with INSTANA_DISABLE_CA_CHECK)."""
    context = _contexts.get(verify)
    if context is None:
        context = _ssl._SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = _TLS_1_2
        if verify:
            _load_roots(context)
        else:
            context.check_hostname = False
            context.verify_mode = _ssl.CERT_NONE
        context = _contexts.setdefault(verify, context)
    return context


def handshake(sock: socket, server_hostname: str, verify: bool) -> Any:
    """TLS over the connected ``sock`` (its timeout applies); the returned object ``read``s
    and ``write``s. ``sock`` must be kept referenced as long as it is used."""
    if not server_hostname.isascii():
        server_hostname = server_hostname.encode("idna").decode("ascii")
    tls = client_context(verify)._wrap_socket(sock, False, server_hostname)
    tls.do_handshake()
    return tls
