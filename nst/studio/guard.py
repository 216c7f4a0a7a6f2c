"""Who may use the studio and how much: its token, Host and Origin checks, a body cap, the headers of every answer.

The defences of a local web server (an ASGI wrapper around the app), for every scope the server hands it:
- The token, made at start (or given with --token, --token-file or NST_STUDIO_TOKEN), travels only in an
  `Authorization: token ...` header. The address the user opens carries it in its fragment (`/#token=...`),
  which the browser never sends anywhere: the page keeps it in the tab's sessionStorage and sends the header with
  every request it makes, images included. There is no cookie: cookies are per host, not per port, so the
  browser would hand one to every other server on this machine. Without the token only the page itself and its
  script and style (the same for everyone, no data in them) are served; everything else answers 403.
- Host: only the address served (127.0.0.1, localhost, [::1] or the --host given, with the port). A page of
  another site whose name was pointed at this machine (DNS rebinding) is refused. With --host 0.0.0.0 any name
  is allowed: the token alone keeps others out.
- Origin: a request whose Origin is not the studio's own (a form or a fetch from another page, one on another
  port of this machine included) is refused.
- The body: at most max_body bytes (413); a Content-Length above it is refused before anything is read.
- Every answer: X-Content-Type-Options: nosniff, X-Frame-Options: DENY, Referrer-Policy: no-referrer,
  Cross-Origin-Resource-Policy: same-origin, and a Content-Security-Policy (none allowed unless the page sets its
  own).
- A WebSocket handshake meets the same Host, Origin and token checks (refused with a close before it is accepted);
  the lifespan scope goes to the app; any other scope type is refused.
"""

import hmac
import json
import os
import re
import secrets
import stat
from pathlib import Path

from nst.errors import NstError

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "::", "")
MAX_BODY = 50_000_000
TOKEN = re.compile(r"[A-Za-z0-9._~-]{8,200}")
TOKEN_VARIABLE = "NST_STUDIO_TOKEN"
PUBLIC = {"/", "/static/page.js", "/static/page.css"}
"""What is served without the token (GET and HEAD only): the page, its script and its style, the same files for
everyone. The page asks for the token (from the address's fragment, or typed) before it asks for anything else."""
HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
)
WEBSOCKET_POLICY_VIOLATION = 1008


class BodyTooLarge(Exception):
    """A request body went past the cap while it was read (the app answers 413)."""


def new_token():
    """A random token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def check_token(token, source="--token"):
    """NstError (one line) for a token that cannot be typed into an address as it is."""
    if not TOKEN.fullmatch(token or ""):
        raise NstError(f"{source} must be 8 to 200 letters, digits or . _ ~ - (so it fits in an address as it is)")
    return token


def read_token_file(path):
    """The token in the file `path` (its first line): a regular file of ours that no one else can read, so the
    token appears neither in `ps` nor to other users. NstError (one line) otherwise."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise NstError(f"cannot read --token-file {path} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NstError(f"--token-file {path} is not a regular file")
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise NstError(
                f"--token-file {path} can be read by other users (mode {stat.filemode(info.st_mode)}): "
                f"chmod 600 {path}, as the owner"
            )
        text = f.read(1024).decode("utf-8", "replace")
    lines = text.splitlines()
    return check_token(lines[0].strip() if lines else "", f"the token in {path}")


def url_host(host):
    """The host as written in an address: an IPv6 literal in brackets (`[::1]`)."""
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host


def allowed_hosts(host, port):
    """The Host header values this studio answers to, or None (any) when it listens on every address."""
    if host.strip("[]") in ANY_ADDRESS:
        return None
    names = set(LOCAL_NAMES) | {url_host(host).lower()}
    return {f"{name}:{port}" for name in names} | (names if port == 80 else set())


def presented_token(headers):
    """The token a request carries in `Authorization: token ...` (the only place the studio reads it), or None."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "token" else None


def matches(candidate, token):
    return candidate is not None and hmac.compare_digest(candidate.encode("utf-8", "surrogateescape"), token.encode())


def refusal_reason(scope, headers, token, host):
    """Why the request or handshake `scope` is refused (Host, Origin, token), or None when it may go on."""
    port = (scope.get("server") or (None, None))[1]
    host_header = headers.get("host", "")
    allowed = allowed_hosts(host, port)
    if allowed is not None and host_header.lower() not in allowed:
        return f"this studio answers only at {', '.join(sorted(allowed))}, not at {host_header[:80]!r}"
    origin = headers.get("origin")
    if origin is not None and origin.lower() != f"http://{host_header}".lower():
        return f"a request from another page ({origin[:80]}) is refused: use the studio's own page"
    public = scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"] in PUBLIC
    if not public and not matches(presented_token(headers), token):
        return (
            "this studio needs its token: open the address `nst studio` printed (it ends in #token=...), or "
            "send the header `Authorization: token ...`"
        )
    return None


def guard(app, token, host, max_body=MAX_BODY):
    """The ASGI app `app` behind the checks above; `host` is the address the server listens on."""

    async def guarded(scope, receive, send):
        if scope["type"] == "lifespan":
            return await app(scope, receive, send)
        if scope["type"] not in ("http", "websocket"):
            raise ValueError(f"the studio serves no {scope['type']!r} connections")
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        reason = refusal_reason(scope, headers, token, host)
        if scope["type"] == "websocket":
            if reason is not None:  # before the handshake is accepted: the server answers it with 403
                return await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION})
            return await app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name.encode(), value.encode()) for name, value in HEADERS if name.encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        async def refusal(status, message):
            data = json.dumps({"error": message}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
            ]
            await send_with_headers({"type": "http.response.start", "status": status, "headers": headers})
            await send_with_headers({"type": "http.response.body", "body": data})

        if reason is not None:
            return await refusal(403, reason)
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > max_body:
            return await refusal(413, too_large(max_body))
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise BodyTooLarge(too_large(max_body))
            return message

        await app(scope, counted, send_with_headers)

    return guarded


def too_large(max_body):
    return (
        f"the request is larger than this studio's limit of {max_body / 1e6:g} MB: upload smaller images, "
        "or restart the studio with a larger --max-upload-mb"
    )
