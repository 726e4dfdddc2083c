"""AWS Signature Version 4 for one request, on the standard library: what reading the agent
key from SSM Parameter Store needs, without importing boto3/botocore (tens of milliseconds and
megabytes on a cold start).

SHA-256 comes from the interpreter's built-in module (``_sha2`` / ``_sha256``) and HMAC is the
few lines RFC 2104 takes: ``hashlib`` would load OpenSSL's libcrypto (~3 ms) on the fetching
thread, holding the GIL while the function's init goes on.

Scope: requests without a query string whose headers are all signed (the AWS JSON protocol:
``POST /`` with ``X-Amz-Target``). The algorithm is AWS's published one: a canonical request,
a string to sign over its SHA-256, a key derived from the secret by HMAC over date, region,
service and ``aws4_request``.
"""

from __future__ import annotations

from time import gmtime, strftime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Mapping, Optional, Tuple


def _builtin_sha256() -> Callable[[bytes], Any]:
    for module in ("_sha2", "_sha256"):  # Python 3.12+, then 3.11 and older
        try:
            return __import__(module).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    from hashlib import sha256  # a build without the built-in module

    return sha256


sha256 = _builtin_sha256()

ALGORITHM = "AWS4-HMAC-SHA256"


class Credentials:
    """Role credentials as Lambda puts them in the environment; never shown in ``repr``."""

    __slots__ = ("access_key", "secret_key", "session_token")

    def __init__(self, access_key: str, secret_key: str, session_token: Optional[str]) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token or None

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key[:4]}..., secret_key=***)"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Optional[Credentials]:
        access = (environ.get("AWS_ACCESS_KEY_ID") or "").strip()
        secret = (environ.get("AWS_SECRET_ACCESS_KEY") or "").strip()
        if not access or not secret:
            return None
        token = (
            environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN") or ""
        ).strip()
        return cls(access, secret, token)


_BLOCK = 64  # SHA-256's block size
_INNER = bytes(byte ^ 0x36 for byte in range(256))
_OUTER = bytes(byte ^ 0x5C for byte in range(256))


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104)."""
    if len(key) > _BLOCK:
        key = bytes(sha256(key).digest())
    key = key.ljust(_BLOCK, b"\0")
    inner = sha256(key.translate(_INNER) + message).digest()
    return bytes(sha256(key.translate(_OUTER) + inner).digest())


def _hmac(key: bytes, text: str) -> bytes:
    return hmac_sha256(key, text.encode("utf-8"))


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _canonical_headers(headers: Mapping[str, str]) -> Tuple[str, str]:
    """(canonical header block, signed header names) of ``headers``, all of them signed."""
    folded: Dict[str, str] = {}
    for name, value in headers.items():
        folded[name.strip().lower()] = " ".join(str(value).split())
    names = sorted(folded)
    block = "".join(f"{name}:{folded[name]}\n" for name in names)
    return block, ";".join(names)


def sign(
    method: str,
    host: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    credentials: Credentials,
    region: str,
    service: str,
    now: Optional[float] = None,
) -> Dict[str, str]:
    """``headers`` plus ``X-Amz-Date``, ``X-Amz-Security-Token`` (when there is a session
    token) and ``Authorization``, for a request to ``host`` (as the ``Host`` header will
    carry it) at ``path`` (no query string) with ``body``."""
    stamp = gmtime(now)
    amz_date = strftime("%Y%m%dT%H%M%SZ", stamp)
    date = amz_date[:8]
    signed: Dict[str, str] = dict(headers)
    signed["X-Amz-Date"] = amz_date
    if credentials.session_token:
        signed["X-Amz-Security-Token"] = credentials.session_token
    block, names = _canonical_headers({**signed, "Host": host})
    payload_hash: str = sha256(body).hexdigest()
    canonical = "\n".join((method.upper(), path or "/", "", block, names, payload_hash))
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join((ALGORITHM, amz_date, scope, sha256(canonical.encode("utf-8")).hexdigest()))
    key = signing_key(credentials.secret_key, date, region, service)
    signature = hmac_sha256(key, to_sign.encode("utf-8")).hex()
    signed["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return signed
