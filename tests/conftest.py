import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from nst.weights.testnet import write_test_vgg  # noqa: E402


@pytest.fixture(scope="session")
def small_vgg(tmp_path_factory):
    """A small VGG-19 .mat file in MatConvNet's new layout, random weights (written once per session)."""
    return write_test_vgg(tmp_path_factory.mktemp("vgg") / "small-vgg19.mat", seed=0)
