"""One bounded plain-HTTP GET, for the platforms' local metadata endpoints (the ECS task
metadata endpoint, the GCP metadata server).

Only background threads fetch, so ``http.client`` is imported at the first fetch, never on
the cold-start or request path.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Mapping, Tuple


class FetchError(Exception):
    """Unreachable, an answer other than 200, or more than the allowed bytes; says which."""


def fetch(
    host: str, path: str, headers: Mapping[str, str], timeout_s: float, max_bytes: int
) -> Tuple[bytes, Dict[str, str]]:
    """GET ``http://<host><path>`` on a connection of its own: (body, lower-cased headers)."""
    import http.client

    conn = http.client.HTTPConnection(host, timeout=timeout_s)
    try:
        conn.request("GET", path, headers=dict(headers))
        response = conn.getresponse()
        body = response.read(max_bytes + 1)
        status = response.status
        received = {name.lower(): value for name, value in response.getheaders()}
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(repr(exc)) from None
    finally:
        conn.close()
    if status != 200:
        raise FetchError(f"HTTP {status}")
    if len(body) > max_bytes:
        raise FetchError("response too large")
    return body, received
