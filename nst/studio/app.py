"""`nst studio`: a local web page to paint a portrait and watch it happen (Starlette app served by uvicorn).

One static page (`page.html`, its script `page.js` and style `page.css`: no inline script) talks to a small JSON
API; every run is the CLI itself, painted by the studio's painter process (nst.studio.painter) in a folder of its
own (nst.studio.runs). Who may use it and how much: nst.studio.guard; how many connections and for how long:
nst.studio.connections; uploads are decoded by a limited worker (nst.studio.uploads); a run must fit the memory
free (nst.studio.admission). No external resources, no telemetry: it works offline.
"""

import argparse
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

from nst.errors import NstError
from nst.settings import DEMO_CONTENT, DEMO_STYLE, default, default_iterations
from nst.shipped import images_folder
from nst.studio.guard import (
    LOCAL_NAMES,
    MAX_BODY,
    TOKEN_VARIABLE,
    check_token,
    guard,
    new_token,
    read_token_file,
    url_host,
)

HERE = Path(__file__).parent
STATIC = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SHIPPED_IMAGES = images_folder()


def build_parser():
    p = argparse.ArgumentParser(
        prog="nst studio",
        description="A local web page to paint your portrait and watch it happen. Every run is the CLI's, in its "
        "own folder under OUTPUT_DIR/studio/; one run at a time. Open the address it prints: it holds the "
        "studio's token, without which the studio answers nothing.",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only; anything else exposes "
        "the studio to the network, where its token is what keeps others out)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default: %(default)s; 0: any free port)")
    p.add_argument(
        "--token",
        default=None,
        help="the token the address carries (default: a new random one at each start); 8 or more "
        "letters, digits or . _ ~ -. Every user of this machine sees it in `ps`: prefer --token-file or "
        f"the environment variable {TOKEN_VARIABLE}",
    )
    p.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="read the token from FILE's first line (a file only you can read: chmod 600)",
    )
    p.add_argument(
        "--weights",
        type=Path,
        default=default("weights"),
        help="MatConvNet imagenet-vgg-verydeep-19.mat (default: the one in ./pretrained-model/ or $NST_HOME; "
        "the first run downloads it into $NST_HOME when missing, or paints with the ImageNet VGG-16 "
        "when it cannot)",
    )
    p.add_argument(
        "--output-dir",
        type=Path,
        default=default("output_dir"),
        help="runs go to OUTPUT_DIR/studio/<time>-<name>/ (default: %(default)s)",
    )
    p.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help="never download the weights; runs fail with instructions if they are missing",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=default("max_pixels"),
        metavar="N",
        help="refuse uploads with more than N pixels, as the CLI does (default: %(default)s)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=MAX_BODY / 1e6,
        metavar="MB",
        help="refuse requests larger than MB megabytes, both images together (default: %(default)g)",
    )
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def shipped_images():
    """The images shipped in images/ (name -> path), for the page's content and style choices."""
    suffixes = (".jpg", ".jpeg", ".png")
    if not SHIPPED_IMAGES.is_dir():
        return {}
    return {p.name: p for p in sorted(SHIPPED_IMAGES.iterdir()) if p.suffix.lower() in suffixes}


def weights_note(studio):
    """None when the weights file is there; else what the page says about it (download on first run, or how)."""
    from nst.weights.download import DEFAULT_WEIGHTS, WEIGHTS_SHA256, weights_url

    path = Path(studio.weights)
    if path.is_file():
        return None
    how = (
        f"download {DEFAULT_WEIGHTS.name} yourself from {weights_url()} (SHA-256 {WEIGHTS_SHA256}) and put it "
        f"at {path.absolute()}"
    )
    if path.name == DEFAULT_WEIGHTS.name and studio.download:
        return (
            f"The VGG-19 weights (510 MB) are not at {path} yet: the first run downloads them (its progress "
            f"shows below the picture), or {how}."
        )
    return f"The VGG-19 weights file {path} does not exist: {how}, or restart the studio with --weights FILE."


def check_weights(studio):
    """Before a run: the CLI's own one-line error when the weights are missing and will not be downloaded."""
    from nst.weights.download import DEFAULT_WEIGHTS, ensure_weights

    path = Path(studio.weights)
    if not path.is_file() and (path.name != DEFAULT_WEIGHTS.name or not studio.download):
        ensure_weights(path, allow_download=False, progress=False)


def file_chunks(fd, size, chunk=1 << 16):
    """The first `size` bytes of the open file `fd`, in chunks; the file is closed at the end."""
    with os.fdopen(fd, "rb") as f:
        while size > 0 and (data := f.read(min(chunk, size))):
            size -= len(data)
            yield data


def make_app(studio):
    """The Starlette app: the page, the JSON API and the runs' files (behind nst.studio.guard: see make_server)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from nst.studio import runs
    from nst.studio.guard import BodyTooLarge

    def error(exc, status=400):
        return JSONResponse({"error": str(exc)}, status_code=status, headers={"Cache-Control": "no-store"})

    def answer(data):
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    async def page(request):
        return FileResponse(
            HERE / "page.html",
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP},
        )

    async def static(request):
        name = request.path_params["file"]
        if name not in STATIC:
            return error(NstError(f"no file {name[:80]!r}"), 404)
        return Response((HERE / name).read_bytes(), media_type=STATIC[name], headers={"Cache-Control": "no-store"})

    async def info(request):
        active = await run_in_threadpool(runs.running, studio)
        return answer(
            {
                "images": list(shipped_images()),
                "default_content": DEMO_CONTENT.name,
                "default_style": DEMO_STYLE.name,
                "defaults": runs.DEFAULT_SETTINGS,
                "weights_note": weights_note(studio),
                "default_iterations": {name: default_iterations(name) for name in ("adam", "lbfgs")},
                "running": active.name if active else None,
                "runs_dir": str(studio.runs_dir.absolute()),
                "max_pixels": studio.max_pixels,
            }
        )

    async def list_runs(request):
        return answer({"runs": await run_in_threadpool(runs.gallery, studio)})

    async def start(request):
        try:
            async with request.form(max_files=2, max_fields=40) as form:
                settings, seed_drawn = runs.parse_settings(form)
                check_weights(studio)
                shipped = shipped_images()
                sources = {
                    role: runs.input_source(studio, role, form.get(f"{role}_file"), form.get(f"{role}_choice"), shipped)
                    for role in runs.ROLES
                }
                name = await run_in_threadpool(runs.start_run, studio, sources, settings, seed_drawn)
        except NstError as exc:
            return error(exc, 409 if isinstance(exc, runs.Busy) else 400)
        return answer({"name": name})

    async def status(request):
        try:
            return answer(await run_in_threadpool(runs.run_status, studio, request.path_params["name"]))
        except NstError as exc:
            return error(exc, 404)

    async def stop(request):
        try:
            name = await run_in_threadpool(runs.stop_run, studio, request.path_params["name"])
        except NstError as exc:
            return error(exc, 409 if isinstance(exc, runs.NotPainting) else 404)
        return answer({"name": name})

    async def resume(request):
        try:
            name = await run_in_threadpool(runs.resume_run, studio, request.path_params["name"])
        except NstError as exc:
            return error(exc, 409)
        return answer({"name": name})

    async def shipped_image(request):
        path = shipped_images().get(request.path_params["file"])
        return FileResponse(path) if path else error(NstError("no such shipped image"), 404)

    async def run_file(request):
        name = request.path_params["file"]
        try:
            fd, size, content_type, download = await run_in_threadpool(
                runs.open_run_file, studio, request.path_params["name"], name
            )
        except NstError as exc:
            return error(exc, 404)
        headers = {"Content-Length": str(size), "Cache-Control": "no-store"}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return StreamingResponse(file_chunks(fd, size), media_type=content_type, headers=headers)

    async def http_error(request, exc):  # also the multipart parser's errors: JSON, as the page expects
        return error(exc.detail, exc.status_code)

    async def body_too_large(request, exc):
        return error(exc, 413)

    async def gone(request, exc):  # the client went away (or its connection timed out) mid-body: nobody to answer
        return Response(status_code=400)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        with studio.lock:
            runs.ensure_painter(studio)  # warm by the first Start
        studio.decoder.prepare()  # so is the first upload's decoder
        yield
        studio.decoder.close()
        await run_in_threadpool(runs.stop_painter, studio)  # the run in progress saves its state first

    routes = [
        Route("/", page),
        Route("/static/{file}", static),
        Route("/api/info", info),
        Route("/api/runs", list_runs),
        Route("/api/runs", start, methods=["POST"]),
        Route("/api/runs/{name}", status),
        Route("/api/runs/{name}/stop", stop, methods=["POST"]),
        Route("/api/runs/{name}/resume", resume, methods=["POST"]),
        Route("/runs/{name}/{file}", run_file),
        Route("/images/{file}", shipped_image),
    ]
    return Starlette(
        lifespan=lifespan,
        routes=routes,
        exception_handlers={HTTPException: http_error, BodyTooLarge: body_too_large, ClientDisconnect: gone},
    )


def make_studio(
    output_dir=default("output_dir"), weights=default("weights"), download=True, max_pixels=default("max_pixels")
):
    from nst.studio.runs import Studio
    from nst.weights.locate import default_weights

    weights = Path(weights).absolute() if weights is not None else default_weights()
    return Studio(output_dir=Path(output_dir).absolute(), weights=weights, download=download, max_pixels=max_pixels)


def make_server(studio, token, host="127.0.0.1", port=7860, max_body=MAX_BODY, limits=None):
    """A uvicorn.Server for the app behind its guard (quiet: warnings only, no access log), its connections bounded
    (nst.studio.connections; `limits` None: the defaults, the cap from the file descriptor limit). `.run()` serves
    until Ctrl-C or until `.should_exit` is set (tests run it in a thread); `.run(sockets=[listen(...)])` on a
    socket bound beforehand."""
    import uvicorn

    from nst.studio.connections import BACKLOG, Limits, bounded_protocol, connection_cap

    limits = limits or Limits(cap=connection_cap())
    config = uvicorn.Config(
        guard(make_app(studio), token, host, max_body),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
        lifespan="on",
        http=bounded_protocol(limits),
        timeout_keep_alive=limits.keep_alive,
        backlog=BACKLOG,
    )
    return uvicorn.Server(config)


def listen(host, port):
    """A TCP socket listening on host:port (port 0: any free one); NstError (one line) when it cannot be."""
    from nst.studio.connections import BACKLOG

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)  # connections wait in the backlog until uvicorn takes them
    except OSError as exc:
        sock.close()
        reason = exc.strerror or type(exc).__name__
        raise NstError(f"could not listen on {url_host(host)}:{port} ({reason}): pass another --port") from None
    return sock


def studio_token(args):
    """The token: --token, else --token-file's, else the environment variable's (taken out of the environment so no
    child process inherits it), else a new random one."""
    from_environment = os.environ.pop(TOKEN_VARIABLE, None)
    if args.token is not None:
        return check_token(args.token)
    if args.token_file is not None:
        return read_token_file(args.token_file)
    if from_environment is not None:
        return check_token(from_environment.strip(), TOKEN_VARIABLE)
    return new_token()


def studio_main(argv=None):
    """`nst studio [--host H] [--port P] [--token T | --token-file FILE] ...`: serve the page until Ctrl-C."""
    args = build_parser().parse_args(argv)
    from nst.commands.console import run_command

    def run():
        if not 0 <= args.port < 65536:
            raise NstError(f"--port must be between 0 and 65535, got {args.port}")
        if args.max_pixels is not None and args.max_pixels < 4:
            raise NstError(f"--max-pixels must be a whole number of at least 4 (2x2 pixels), got {args.max_pixels}")
        if not args.max_upload_mb > 0 or args.max_upload_mb == float("inf"):
            raise NstError(f"--max-upload-mb must be a positive number, got {args.max_upload_mb}")
        token = studio_token(args)
        host = args.host.strip("[]")
        studio = make_studio(args.output_dir, args.weights, args.download, args.max_pixels)
        from nst.studio.runs import prepare_runs_dir

        prepare_runs_dir(studio)
        if url_host(host) not in LOCAL_NAMES:
            print(
                f"nst studio: warning: --host {args.host} makes the studio reachable from other machines: its "
                "token is what keeps others out, so anyone with the address below can start runs and see every "
                "run and its uploads; share it only with people you trust",
                file=sys.stderr,
            )
        sock = listen(host, args.port)
        port = sock.getsockname()[1]
        server = make_server(studio, token, host, port, int(args.max_upload_mb * 1e6))
        print(
            f"nst studio: http://{url_host(host)}:{port}/#token={token}  (runs go to {studio.runs_dir}; Ctrl-C stops)",
            flush=True,
        )
        try:
            server.run(sockets=[sock])
            # uvicorn re-raises a Ctrl-C it caught once it has shut down; asyncio's own SIGINT handler can take
            # that re-raise as a cancellation of a task already ending, and then nothing is raised here
            interrupted = signal.SIGINT in getattr(server, "_captured_signals", ())
        except SystemExit:  # uvicorn exits when its start-up fails
            interrupted = False
        except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down (and stopped the run)
            interrupted = True
        if interrupted:
            print(
                "nst studio: stopped; a run that was painting is saved and can be resumed from the page",
                file=sys.stderr,
            )
            return 130
        if not server.started:
            raise NstError(f"could not serve on {url_host(host)}:{port}")

    return run_command(run, debug=args.debug, tensorflow=False)
