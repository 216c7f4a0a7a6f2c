"""Who may use the studio and how much: its token, Host and Origin checks, a body cap, the headers of every answer.

The defences of a local web server, as Jupyter's server has them (an ASGI wrapper around the app):
- The token, made at start (or given with --token), is in the address the user opens (`/?token=...`); that visit
  sets a cookie (HttpOnly, SameSite=Strict) and redirects to `/`. Every request needs the token: the cookie,
  `?token=...` or an `Authorization: token ...` header. Without it the page is a note on how to get in and
  everything else answers 403.
- Host: only the address served (127.0.0.1, localhost, [::1] or the --host given, with the port). A page of
  another site whose name was pointed at this machine (DNS rebinding) is refused. With --host 0.0.0.0 any name
  is allowed: the token alone keeps others out.
- Origin: a request whose Origin is not the studio's own (a form or a fetch from another page, one on another
  port of this machine included) is refused.
- The body: at most max_body bytes (413); a Content-Length above it is refused before anything is read.
- Every answer: X-Content-Type-Options: nosniff, X-Frame-Options: DENY, Referrer-Policy: no-referrer,
  Cross-Origin-Resource-Policy: same-origin, and a Content-Security-Policy (none allowed unless the page sets its
  own).
"""

import hmac
import http.cookies
import json
import re
import secrets
import urllib.parse

from nst.errors import NstError

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "::", "")
MAX_BODY = 50_000_000
TOKEN = re.compile(r"[A-Za-z0-9._~-]{8,200}")
HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
)
LOGIN_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"


class BodyTooLarge(Exception):
    """A request body went past the cap while it was read (the app answers 413)."""


def new_token():
    """A random token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def check_token(token):
    """NstError (one line) for a --token that cannot be typed into an address as it is."""
    if not TOKEN.fullmatch(token or ""):
        raise NstError("--token must be 8 to 200 letters, digits or . _ ~ - (so it fits in an address as it is)")
    return token


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


def cookie_name(port):
    """The token's cookie, one per port (cookies do not tell ports apart; two studios must not share one)."""
    return f"nst-studio-{port}"


def presented_tokens(scope, headers, port):
    """The tokens a request carries: `?token=`, the cookie, `Authorization: token ...`."""
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    found = query.get("token", [])[:1]
    try:
        cookie = http.cookies.SimpleCookie(headers.get("cookie", "")).get(cookie_name(port))
    except http.cookies.CookieError:
        cookie = None
    if cookie is not None:
        found.append(cookie.value)
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "token":
        found.append(value.strip())
    return found


def matches(candidate, token):
    return hmac.compare_digest(candidate.encode("utf-8", "surrogateescape"), token.encode())


def guard(app, token, host, max_body=MAX_BODY):
    """The ASGI app `app` behind the checks above; `host` is the address the server listens on."""

    async def guarded(scope, receive, send):
        if scope["type"] != "http":  # lifespan
            return await app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name.encode(), value.encode()) for name, value in HEADERS if name.encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        async def answer(status, body, content_type="application/json", extra=()):
            data = body.encode()
            headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(data)).encode()),
                       (b"cache-control", b"no-store")] + [(k.encode(), v.encode()) for k, v in extra]
            await send_with_headers({"type": "http.response.start", "status": status, "headers": headers})
            await send_with_headers({"type": "http.response.body", "body": data})

        def refusal(status, message):
            return answer(status, json.dumps({"error": message}))

        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        port = (scope.get("server") or (None, None))[1]
        host_header = headers.get("host", "")
        allowed = allowed_hosts(host, port)
        if allowed is not None and host_header.lower() not in allowed:
            return await refusal(403, f"this studio answers only at {', '.join(sorted(allowed))}, not at "
                                      f"{host_header[:80]!r}")
        origin = headers.get("origin")
        if origin is not None and origin.lower() != f"http://{host_header}".lower():
            return await refusal(403, f"a request from another page ({origin[:80]}) is refused: use the studio's "
                                      "own page")
        presented = presented_tokens(scope, headers, port)
        page = scope["path"] == "/" and scope["method"] in ("GET", "HEAD")
        if not any(matches(candidate, token) for candidate in presented):
            if page:
                return await answer(403, login_page(bool(presented)), "text/html; charset=utf-8",
                                    [("content-security-policy", LOGIN_CSP)])
            return await refusal(403, "this studio needs its token: open the address `nst studio` printed "
                                      "(it ends in /?token=...)")
        if page and "token=" in scope.get("query_string", b"").decode("latin-1"):
            cookie = f"{cookie_name(port)}={token}; Path=/; HttpOnly; SameSite=Strict"
            return await answer(303, "", "text/plain", [("location", "/"), ("set-cookie", cookie)])
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
    return (f"the request is larger than this studio's limit of {max_body / 1e6:g} MB: upload smaller images, "
            "or restart the studio with a larger --max-upload-mb")


def login_page(wrong):
    """The page shown without the token: how to get in (no script)."""
    note = "<p><b>That token is not this studio's.</b></p>" if wrong else ""
    return ("<!doctype html><html lang=en><meta charset=utf-8><title>nst studio</title><h1>nst studio</h1>"
            f"{note}<p>Open the address that <code>nst studio</code> printed when it started: it ends in "
            "<code>/?token=&hellip;</code>. Or type the token here:</p><form method=get action=/>"
            "<input name=token autocomplete=off size=40 aria-label=token> <button>Open</button></form></html>")
