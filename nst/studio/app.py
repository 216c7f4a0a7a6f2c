"""`nst studio`: a local web page to paint a portrait and watch it happen (Starlette app served by uvicorn).

One static page (`page.html`, vanilla JS) talks to a small JSON API; every run is the CLI itself in a child
process (nst/studio/runs.py). No external resources, no telemetry: it works offline.
"""

import argparse
import contextlib
import sys
from pathlib import Path

from nst.config import DEMO_CONTENT, DEMO_STYLE, PACKAGE_ROOT, Config
from nst.errors import NstError

DEFAULTS = Config()
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
PAGE = Path(__file__).with_name("page.html")
SHIPPED_IMAGES = PACKAGE_ROOT / "images"


def build_parser():
    p = argparse.ArgumentParser(
        prog="nst studio",
        description="A local web page to paint your portrait and watch it happen. Every run is `python -m nst` "
        "in its own folder under OUTPUT_DIR/studio/; one run at a time.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s, this machine only; anything else exposes "
                   "the studio, which has no login, to the network)")
    p.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    p.add_argument("--weights", type=Path, default=DEFAULTS.weights,
                   help="MatConvNet imagenet-vgg-verydeep-19.mat (default: %(default)s; the first run downloads it "
                   "when missing)")
    p.add_argument("--output-dir", type=Path, default=DEFAULTS.output_dir,
                   help="runs go to OUTPUT_DIR/studio/<time>-<name>/ (default: %(default)s)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download the weights; runs fail with instructions if they are missing")
    p.add_argument("--max-pixels", type=int, default=DEFAULTS.max_pixels, metavar="N",
                   help="refuse uploads with more than N pixels, as the CLI does (default: %(default)s)")
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
    how = (f"download {DEFAULT_WEIGHTS.name} yourself from {weights_url()} (SHA-256 {WEIGHTS_SHA256}) and put it "
           f"at {path.absolute()}")
    if path.name == DEFAULT_WEIGHTS.name and studio.download:
        return (f"The VGG-19 weights (510 MB) are not at {path} yet: the first run downloads them (its progress "
                f"shows below the picture), or {how}.")
    return f"The VGG-19 weights file {path} does not exist: {how}, or restart the studio with --weights FILE."


def check_weights(studio):
    """Before a run: the CLI's own one-line error when the weights are missing and will not be downloaded."""
    from nst.weights.download import DEFAULT_WEIGHTS, ensure_weights

    path = Path(studio.weights)
    if not path.is_file() and (path.name != DEFAULT_WEIGHTS.name or not studio.download):
        ensure_weights(path, allow_download=False, progress=False)


async def read_input(form, role, shipped):
    """(file name, bytes) of the content or style image: the upload `<role>_file` if one was given, else the
    shipped image named by `<role>_choice`."""
    upload = form.get(f"{role}_file")
    if upload is not None and getattr(upload, "filename", None):
        return upload.filename, await upload.read()
    choice = str(form.get(f"{role}_choice") or "")
    if choice not in shipped:
        raise NstError(f"choose a {role} image or upload one (unknown choice {choice!r})")
    return choice, shipped[choice].read_bytes()


def make_app(studio):
    """The Starlette app: the page, the JSON API and the runs' files."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse
    from starlette.routing import Route

    from nst.studio import runs

    def error(exc, status=400):
        return JSONResponse({"error": str(exc)}, status_code=status)

    async def page(request):
        return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})

    async def info(request):
        active = runs.running(studio)
        return JSONResponse({
            "images": list(shipped_images()),
            "default_content": DEMO_CONTENT.name, "default_style": DEMO_STYLE.name,
            "defaults": runs.DEFAULT_SETTINGS, "weights_note": weights_note(studio),
            "running": active.name if active else None,
            "runs_dir": str(studio.runs_dir.absolute()), "max_pixels": studio.max_pixels,
        })

    async def list_runs(request):
        return JSONResponse({"runs": await run_in_threadpool(runs.gallery, studio),
                             "running": (runs.running(studio) or Path("")).name or None})

    async def start(request):
        try:
            async with request.form(max_files=2, max_fields=40) as form:
                shipped = shipped_images()
                settings = runs.parse_settings(form)
                content = await read_input(form, "content", shipped)
                style = await read_input(form, "style", shipped)
            check_weights(studio)
            name = await run_in_threadpool(runs.start_run, studio, content, style, settings)
        except NstError as exc:
            return error(exc, 409 if isinstance(exc, runs.Busy) else 400)
        return JSONResponse({"name": name})

    async def status(request):
        try:
            return JSONResponse(await run_in_threadpool(runs.run_status, studio, request.path_params["name"]))
        except NstError as exc:
            return error(exc, 404)

    async def stop(request):
        name = runs.stop_child(studio)
        if name != request.path_params["name"]:
            return error(NstError(f"the run {request.path_params['name']} is not painting"), 409)
        return JSONResponse({"name": name})

    async def resume(request):
        try:
            name = await run_in_threadpool(runs.resume_run, studio, request.path_params["name"])
        except NstError as exc:
            return error(exc, 409)
        return JSONResponse({"name": name})

    async def shipped_image(request):
        path = shipped_images().get(request.path_params["file"])
        return FileResponse(path) if path else error(NstError("no such shipped image"), 404)

    async def run_file(request):
        try:
            folder = runs.run_folder(studio, request.path_params["name"])
        except NstError as exc:
            return error(exc, 404)
        wanted = request.path_params["file"]
        path = folder / wanted
        if "/" in wanted or wanted.startswith(".") or not path.is_file():
            return error(NstError(f"no file {wanted!r} in run {folder.name}"), 404)
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(runs.stop_child, studio, 60)  # server stops: the run saves its state first

    return Starlette(lifespan=lifespan, routes=[
        Route("/", page),
        Route("/api/info", info),
        Route("/api/runs", list_runs),
        Route("/api/runs", start, methods=["POST"]),
        Route("/api/runs/{name}", status),
        Route("/api/runs/{name}/stop", stop, methods=["POST"]),
        Route("/api/runs/{name}/resume", resume, methods=["POST"]),
        Route("/runs/{name}/{file}", run_file),
        Route("/images/{file}", shipped_image),
    ])


def make_studio(output_dir=DEFAULTS.output_dir, weights=DEFAULTS.weights, download=True,
                max_pixels=DEFAULTS.max_pixels):
    from nst.studio.runs import Studio

    return Studio(output_dir=Path(output_dir).absolute(), weights=Path(weights).absolute(), download=download,
                  max_pixels=max_pixels)


def make_server(studio, host="127.0.0.1", port=7860):
    """A uvicorn.Server for the app (quiet: warnings only, no access log). `.run()` serves until Ctrl-C or
    until `.should_exit` is set (tests run it in a thread)."""
    import uvicorn

    config = uvicorn.Config(make_app(studio), host=host, port=port, log_level="warning", access_log=False,
                            server_header=False, date_header=False)
    return uvicorn.Server(config)


def studio_main(argv=None):
    """`nst studio [--host H] [--port P] [--weights F] [--output-dir D]`: serve the page until Ctrl-C."""
    args = build_parser().parse_args(argv)
    from nst.console import run_command

    def run():
        if not 0 < args.port < 65536:
            raise NstError(f"--port must be between 1 and 65535, got {args.port}")
        if args.max_pixels is not None and args.max_pixels < 4:
            raise NstError(f"--max-pixels must be a whole number of at least 4 (2x2 pixels), got {args.max_pixels}")
        studio = make_studio(args.output_dir, args.weights, args.download, args.max_pixels)
        if args.host not in LOCAL_HOSTS:
            print(f"nst studio: warning: --host {args.host} makes the studio reachable from other machines; it "
                  "has no login, so anyone who reaches it can start runs and see every run", file=sys.stderr)
        server = make_server(studio, args.host, args.port)
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"nst studio: http://{shown}:{args.port}/  (runs go to {studio.runs_dir}; Ctrl-C stops)", flush=True)
        try:
            server.run()
        except SystemExit:  # uvicorn exits when it cannot bind
            pass
        except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down (and stopped the run)
            print("nst studio: stopped; a run that was painting is saved and can be resumed from the page",
                  file=sys.stderr)
            return 130
        if not server.started:
            raise NstError(f"could not listen on {args.host}:{args.port} (in use?): pass another --port")

    return run_command(run, debug=args.debug, tensorflow=False)
