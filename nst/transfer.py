"""One whole run: images and weights in, `output/` filled (what `python -m nst` does)."""

from pathlib import Path

from tqdm import tqdm

from nst.errors import NstError
from nst.images import generate_noise_image, load_image, reshape_and_normalize_image
from nst.optimize import model_nn
from nst.vgg import load_vgg_model
from nst.weights import ensure_weights


def prepare_output_dir(path):
    """Create the output folder (and parents); NstError if it is a file or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NstError(f"output folder {path} is a file: pass --output-dir to a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NstError(f"cannot create output folder {path} ({exc.strerror}): pass --output-dir to a writable folder") from None
    return path


def style_transfer(cfg, log=tqdm.write):
    """Run neural style transfer as configured; returns (generated image (1, H, W, 3), history)."""
    cfg.check()
    content = reshape_and_normalize_image(load_image(cfg.content, cfg.width, cfg.height))
    style = reshape_and_normalize_image(load_image(cfg.style, cfg.width, cfg.height))
    prepare_output_dir(cfg.output_dir)
    weights = ensure_weights(Path(cfg.weights), allow_download=cfg.download, progress=cfg.progress)
    model = load_vgg_model(weights)
    input_image = generate_noise_image(content, cfg.noise_ratio, seed=cfg.seed)
    return model_nn(model, content, style, input_image, cfg, log=log)
