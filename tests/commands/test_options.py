"""Options beyond the homework: the opt-in options, each shown in numbers on a small net and 32x24 images."""

import csv
import re

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

from nst.commands.cli import build_parser, config_from_args, main
from nst.commands.run import scale_sizes, style_transfer, weights_of
from nst.costs import total_variation_cost
from nst.engine.colors import preserve_colors, rgb_to_ycbcr, ycbcr_to_rgb
from nst.engine.objective import objective
from nst.engine.start import initial_image
from nst.engine.targets import blended_style_targets, content_target, positions, style_targets
from nst.errors import NstError
from nst.images import MEANS, load_image, reshape_and_normalize_image
from nst.settings import LBFGS_EVALUATIONS, Config
from nst.studio.runs import parse_settings
from nst.vgg import load_vgg_model, read_vgg_weights
from tests.numpy_vgg import forward, gram

W, H = 32, 24


@pytest.fixture(scope="module")
def pics(tmp_path_factory):
    """A 32x24 'photo' (a coloured disc on dark), two 'paintings' (stripes, checks) and a gradient, as PNG."""
    folder = tmp_path_factory.mktemp("pics")
    y, x = np.mgrid[0:H, 0:W]
    disc = ((x - 16) ** 2 + (y - 12) ** 2 < 80)[..., None]
    photo = 40 + np.stack([x * 5, y * 6, 200 - x * 3], axis=-1) * disc
    stripes = np.stack(
        [128 + 100 * np.sin(x / 1.5 + y / 2.0), 128 + 100 * np.cos(y / 1.2), 128 + 100 * np.sin((x - y) / 3.0)], axis=-1
    )
    checks = np.repeat((((x // 4 + y // 4) % 2) * 200 + 30)[..., None], 3, axis=2) * [1.0, 0.6, 0.3]
    gradient = np.stack([x * 7, y * 9, x * 3 + y * 3], axis=-1)
    paths = {}
    for name, image in {"photo": photo, "stripes": stripes, "checks": checks, "gradient": gradient}.items():
        paths[name] = folder / f"{name}.png"
        iio.imwrite(paths[name], np.clip(image, 0, 255).astype(np.uint8))
    return paths


def cfg_for(small_vgg, pics, tmp_path, **kw):
    base = dict(
        content=pics["photo"],
        style=pics["stripes"],
        weights=small_vgg,
        width=W,
        height=H,
        seed=1,
        progress=False,
        download=False,
        output_dir=tmp_path / "out",
        save_every=10,
    )
    return Config(**{**base, **kw})


def run(small_vgg, pics, tmp_path, **kw):
    lines = []
    generated, history = style_transfer(cfg_for(small_vgg, pics, tmp_path, **kw), log=lines.append)
    return generated, history, lines


# --- 1. L-BFGS -----------------------------------------------------------------------------------------------


def test_lbfgs_reaches_lower_cost_than_adam_at_the_same_evaluations(small_vgg, pics, tmp_path):
    generated, history, lines = run(small_vgg, pics, tmp_path, optimizer="lbfgs", iterations=20)
    evaluations = int(re.search(r"L-BFGS: (\d+) iterations, (\d+) evaluations", lines[-1]).group(2))
    assert 20 <= evaluations <= 25  # stops at the first iteration end once 20 evaluations are spent
    _, adam_history, _ = run(small_vgg, pics, tmp_path / "adam", iterations=evaluations)
    J_lbfgs, J_adam = history[-1][1], adam_history[-1][1]
    assert J_lbfgs < 0.1 * J_adam, (J_lbfgs, J_adam)  # measured: 7.8e4 vs 1.5e7
    # Same outputs as an Adam run; history costs are those of the returned image; pixels within 0..255.
    out = tmp_path / "out"
    assert {"0.png", "10.png", "costs.csv", "generated_image.jpg"} <= {p.name for p in out.iterdir()}
    rows = list(csv.reader(open(out / "costs.csv")))
    assert rows[0] == ["iteration", "total", "content", "style"] and len(rows) == len(history) + 1
    assert [h[1] for h in history] == sorted((h[1] for h in history), reverse=True)  # L-BFGS never goes up
    pixels = generated + MEANS
    assert pixels.min() >= -1e-3 and pixels.max() <= 255 + 1e-3
    cfg = cfg_for(small_vgg, pics, tmp_path)
    model = load_vgg_model(small_vgg)
    content = reshape_and_normalize_image(load_image(pics["photo"], W, H))
    style = reshape_and_normalize_image(load_image(pics["stripes"], W, H))
    costs = objective(
        model,
        content_target(model, content, cfg.content_layer),
        style_targets(model, style, cfg.style_layers),
        weights_of(cfg),
        cfg.precision,
    ).costs
    assert float(costs(tf.constant(generated))[0]) == pytest.approx(history[-1][1], rel=1e-4)


def test_lbfgs_without_iterations_spends_its_own_default_budget(small_vgg, pics, tmp_path, capsys):
    """`--optimizer lbfgs` alone: LBFGS_EVALUATIONS evaluations (where its picture is the homework's), not the
    200 Adam steps' count; `--iterations N` is N as asked; Adam keeps the homework's 200. From Python, Config
    without iterations has the same defaults, and so does the studio's form left empty."""
    common = [
        str(a)
        for a in (
            "--content",
            pics["photo"],
            "--style",
            pics["stripes"],
            "--weights",
            small_vgg,
            "--width",
            W,
            "--height",
            H,
            "--seed",
            1,
            "--no-progress",
            "--optimizer",
            "lbfgs",
        )
    ]
    evaluations = {}
    for name, extra in (("default", []), ("asked", ["--iterations", "7"])):
        assert main(common + ["--output-dir", str(tmp_path / name)] + extra) == 0
        log = capsys.readouterr().out
        evaluations[name] = int(
            re.search(r"L-BFGS: \d+ iterations, (\d+) evaluations \(evaluation budget spent\)", log).group(1)
        )
    assert LBFGS_EVALUATIONS <= evaluations["default"] <= LBFGS_EVALUATIONS + 5, evaluations
    assert 7 <= evaluations["asked"] <= 12, evaluations
    assert config_from_args(build_parser().parse_args([])).iterations == Config().iterations == 200
    assert config_from_args(build_parser().parse_args(["--optimizer", "lbfgs"])).iterations == LBFGS_EVALUATIONS
    assert Config(optimizer="lbfgs").iterations == LBFGS_EVALUATIONS == 35
    assert Config(optimizer="lbfgs", iterations=200).iterations == 200
    assert parse_settings({"optimizer": "lbfgs", "iterations": ""})[0]["iterations"] == LBFGS_EVALUATIONS
    assert parse_settings({"optimizer": "adam"})[0]["iterations"] == 200
    assert parse_settings({"optimizer": "lbfgs", "iterations": "60"})[0]["iterations"] == 60


# --- 2. total variation --------------------------------------------------------------------------------------


def test_total_variation_cost_matches_numpy():
    image = np.random.default_rng(0).normal(0, 30, (1, 5, 7, 3)).astype(np.float64)
    expected = np.mean(np.diff(image, axis=1) ** 2) + np.mean(np.diff(image, axis=2) ** 2)
    assert float(total_variation_cost(tf.constant(image))) == pytest.approx(expected, rel=1e-12)


def test_tv_of_the_result_falls_as_the_weight_rises(small_vgg, pics, tmp_path):
    tvs = []
    for weight in (0.0, 1e3, 1e4):
        generated, history, _ = run(small_vgg, pics, tmp_path / str(weight), tv_weight=weight, iterations=30)
        tvs.append(float(total_variation_cost(tf.constant(generated))))
        if weight:  # the logged total includes the TV term: J = 10 Jc + 40 Js + w TV
            assert history[-1][1] > 10 * history[-1][2] + 40 * history[-1][3]
        else:
            assert history[-1][1] == pytest.approx(10 * history[-1][2] + 40 * history[-1][3], rel=1e-5)
    assert tvs[0] > 1.5 * tvs[1] > 1.5 * 1.5 * tvs[2], tvs


# --- 3. several styles ---------------------------------------------------------------------------------------


def test_blended_style_target_is_the_weighted_sum_of_grams(small_vgg, pics):
    model = load_vgg_model(small_vgg)
    a, b = (reshape_and_normalize_image(load_image(pics[n], W, H)) for n in ("stripes", "checks"))
    layers = Config().style_layers
    single_a, single_b = style_targets(model, a, layers), style_targets(model, b, layers)
    blended = blended_style_targets(model, [a, b], (0.8, 0.2), layers, a.shape)
    unnormalised = blended_style_targets(model, [a, b], (4.0, 1.0), layers, a.shape)  # weights sum to 1
    for name, _ in layers:
        expected = 0.8 * single_a[name].numpy() + 0.2 * single_b[name].numpy()
        np.testing.assert_allclose(blended[name].numpy(), expected, rtol=1e-5)
        np.testing.assert_allclose(unnormalised[name].numpy(), expected, rtol=1e-5)
        assert np.abs(expected - single_a[name].numpy()).max() > 1e-2 * np.abs(expected).max()
    # One style of the generated size: exactly the homework's Gram.
    one = blended_style_targets(model, [a], None, layers, a.shape)
    assert all(np.array_equal(one[n].numpy(), single_a[n].numpy()) for n, _ in layers)


def test_several_styles_from_the_command_line(small_vgg, pics, tmp_path, capsys):
    args = [
        "--content",
        pics["photo"],
        "--style",
        pics["stripes"],
        pics["checks"],
        "--style-blend",
        "0.8",
        "0.2",
        "--weights",
        small_vgg,
        "--width",
        W,
        "--height",
        H,
        "--iterations",
        2,
        "--no-progress",
        "--output-dir",
        tmp_path / "cli",
        "--seed",
        1,
    ]
    assert main([str(a) for a in args]) == 0
    cfg = config_from_args(build_parser().parse_args([str(a) for a in args]))
    assert cfg.style == [pics["stripes"], pics["checks"]] and cfg.style_blend == [0.8, 0.2]
    _, history, _ = run(
        small_vgg, pics, tmp_path / "py", style=[pics["stripes"], pics["checks"]], style_blend=(0.8, 0.2), iterations=2
    )
    rows = list(csv.DictReader(open(tmp_path / "cli" / "costs.csv")))
    assert [float(r["total"]) for r in rows] == pytest.approx([h[1] for h in history], rel=1e-6)
    at = args.index("--style-blend")
    assert main([str(a) for a in args[: at + 3] + ["0.1"] + args[at + 3 :]]) == 2  # three weights, two styles
    err = capsys.readouterr().err
    assert "--style-blend has 3 weight(s) for 2 style image(s)" in err and len(err.strip().splitlines()) == 1


# --- 4. preserve colours -------------------------------------------------------------------------------------


def test_colour_transform_round_trip():
    rgb = np.random.default_rng(1).uniform(0, 255, (6, 5, 3))
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-9)
    np.testing.assert_allclose(rgb_to_ycbcr([[255.0, 255.0, 255.0]]), [[255.0, 128.0, 128.0]], atol=1e-3)


def test_preserve_colors_keeps_the_content_chroma(small_vgg, pics, tmp_path):
    generated, _, _ = run(small_vgg, pics, tmp_path, preserve_colors=True, iterations=20)
    plain, _, _ = run(small_vgg, pics, tmp_path / "plain", iterations=20)
    content = load_image(pics["photo"], W, H)
    out, raw = generated[0] + MEANS[0], np.clip(plain[0] + MEANS[0], 0, 255)
    unclipped = np.all((out > 0.01) & (out < 254.99), axis=-1)
    assert unclipped.mean() > 0.9
    chroma = rgb_to_ycbcr(out)[..., 1:]
    np.testing.assert_allclose(chroma[unclipped], rgb_to_ycbcr(content)[..., 1:][unclipped], atol=0.01)
    np.testing.assert_allclose(rgb_to_ycbcr(out)[..., 0][unclipped], rgb_to_ycbcr(raw)[..., 0][unclipped], atol=0.01)
    assert np.abs(rgb_to_ycbcr(raw)[..., 1:] - rgb_to_ycbcr(content)[..., 1:]).mean() > 5  # without: colours move
    saved = iio.imread(tmp_path / "out" / "generated_image.jpg").astype(np.float64)  # JPEG: chroma to within a few
    assert np.abs(rgb_to_ycbcr(saved)[..., 1:] - rgb_to_ycbcr(content)[..., 1:]).mean() < 3
    np.testing.assert_allclose(preserve_colors(content, content), content, atol=1e-3)


# --- 5. --init and --style-scale -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_plain_step(small_vgg, pics, tmp_path_factory):
    """The history of one step with none of the options (the noisy start, the style at its own size)."""
    return run(small_vgg, pics, tmp_path_factory.mktemp("plain"), iterations=1)[1]


def test_init_images(small_vgg, pics, tmp_path, one_plain_step):
    content = reshape_and_normalize_image(load_image(pics["photo"], W, H))
    style_file = iio.imread(pics["stripes"]).astype(np.float32)
    assert np.array_equal(initial_image("content", content, style_file), content)
    assert np.array_equal(initial_image("style", content, style_file), style_file[None] - MEANS)
    gradient = iio.imread(pics["gradient"]).astype(np.float32)
    assert np.array_equal(initial_image(str(pics["gradient"]), content, style_file, gradient), gradient[None] - MEANS)
    noise = initial_image("noise", content, style_file, seed=3)  # the homework's noisy content
    assert 0.5 < np.abs(noise - 0.4 * content).max() / 12 <= 1.0 + 1e-6
    # From the content, the content cost of the first step is far below the noisy start's.
    _, from_content, _ = run(small_vgg, pics, tmp_path / "c", init="content", iterations=1)
    assert from_content[0][2] < 0.05 * one_plain_step[0][2]  # the noisy start's
    with pytest.raises(NstError, match="missing.png"):
        style_transfer(cfg_for(small_vgg, pics, tmp_path, init=str(tmp_path / "missing.png")))


def test_style_scale_resizes_the_style_before_its_grams(small_vgg, pics, tmp_path, one_plain_step):
    model = load_vgg_model(small_vgg)
    layers = Config().style_layers
    big = reshape_and_normalize_image(load_image(pics["stripes"], 2 * W, 2 * H))
    targets = blended_style_targets(model, [big], None, layers, (1, H, W, 3))
    direct = style_targets(model, big, layers)
    for name, _ in layers:  # Gram of the 2x image, brought to the generated image's number of positions
        ratio = positions(H, W, name) / positions(2 * H, 2 * W, name)
        np.testing.assert_allclose(targets[name].numpy(), direct[name].numpy() * ratio, rtol=1e-6)
    assert positions(24, 32, "conv1_1") == 768 and positions(24, 32, "conv3_1") == 48
    assert positions(5, 7, "conv2_1") == 12
    _, scaled, _ = run(small_vgg, pics, tmp_path / "s2", style_scale=2.0, iterations=1)
    plain = one_plain_step
    # Same content, same start: the style cost differs because the style target does.
    assert scaled[0][2] == pytest.approx(plain[0][2], rel=0.05) and abs(scaled[0][3] - plain[0][3]) > 1e-2 * plain[0][3]


# --- 6 and 7. pooling, layers, kernel layout -----------------------------------------------------------------


def test_pooling_layers_and_kernel_layout_against_numpy(small_vgg):
    rng = np.random.default_rng(4)
    content, style, image = (rng.normal(0, 50, (1, 14, 10, 3)) for _ in range(3))  # float64
    cfg = Config(
        content_layer="conv3_1",
        style_layers="conv1_2:0.3,conv2_2:0.7,avgpool3",
        pooling="max",
        kernel_layout="transposed",
    ).check()
    assert cfg.style_layers == (("conv1_2", 0.3), ("conv2_2", 0.7), ("avgpool3", 1.0))
    model = load_vgg_model(small_vgg, pooling=cfg.pooling, kernel_layout=cfg.kernel_layout)
    costs = objective(
        model,
        content_target(model, content, cfg.content_layer),
        style_targets(model, style, cfg.style_layers),
        weights_of(cfg),
        cfg.precision,
    ).costs
    J, Jc, Js = (float(v) for v in costs(tf.constant(image)))
    weights, _ = read_vgg_weights(small_vgg)
    flipped = {k: (w.transpose(1, 0, 2, 3), b) for k, (w, b) in weights.items()}
    C, S, G = (forward(flipped, x, "max") for x in (content, style, image))
    h, w, c = G["conv3_1"].shape
    Jc_np = np.sum((C["conv3_1"] - G["conv3_1"]) ** 2) / (4 * h * w * c)
    Js_np = sum(
        lam * np.sum((gram(S[n]) - gram(G[n])) ** 2) / (4 * G[n].shape[2] ** 2 * (G[n].shape[0] * G[n].shape[1]) ** 2)
        for n, lam in cfg.style_layers
    )
    assert Jc == pytest.approx(Jc_np, rel=1e-9) and Js == pytest.approx(Js_np, rel=1e-9)
    assert J == pytest.approx(10 * Jc_np + 40 * Js_np, rel=1e-9)
    default = Config()
    model = load_vgg_model(small_vgg)
    a_C, grams = content_target(model, content, "conv4_2"), style_targets(model, style, default.style_layers)
    homework = objective(model, a_C, grams, weights_of(default), default.precision).costs
    assert abs(float(homework(tf.constant(image))[0]) - J) > 1e-3 * J  # the options change the cost


def test_new_flags_map_onto_config_fields():
    args = build_parser().parse_args(
        [
            "--optimizer",
            "lbfgs",
            "--tv-weight",
            "5",
            "--preserve-colors",
            "--init",
            "content",
            "--style-scale",
            "0.5",
            "--pooling",
            "max",
            "--kernel-layout",
            "transposed",
            "--content-layer",
            "conv3_2",
            "--style-layers",
            "conv1_1:1,conv2_1:2",
            "--scales",
            "3",
            "--style",
            "a.jpg",
        ]
    )
    cfg = config_from_args(args)
    assert (
        cfg.optimizer,
        cfg.tv_weight,
        cfg.preserve_colors,
        cfg.init,
        cfg.style_scale,
        cfg.pooling,
        cfg.kernel_layout,
        cfg.content_layer,
        cfg.scales,
    ) == ("lbfgs", 5.0, True, "content", 0.5, "max", "transposed", "conv3_2", 3)
    assert str(cfg.style) == "a.jpg" and cfg.check().style_layers == (("conv1_1", 1.0), ("conv2_1", 2.0))
    defaults = config_from_args(build_parser().parse_args([]))
    assert defaults == Config()  # every default is the homework's


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--content-layer", "conv9_1"], "--content-layer: unknown VGG-19 layer 'conv9_1'"),
        (["--style-layers", "conv1_1:0.5,conv6_1:0.5"], "--style-layers: unknown VGG-19 layer(s) 'conv6_1'"),
        (["--style-layers", "conv1_1:lots"], "--style-layers: weight 'lots'"),
        (["--tv-weight", "-1"], "--tv-weight"),
        (["--style-scale", "0"], "--style-scale"),
        (["--scales", "6"], "--scales 6"),
    ],
)
def test_bad_options_one_line_exit_2(small_vgg, pics, tmp_path, capsys, flags, needle):
    args = [
        "--content",
        pics["photo"],
        "--style",
        pics["stripes"],
        "--weights",
        small_vgg,
        "--width",
        W,
        "--height",
        H,
        "--iterations",
        1,
        "--output-dir",
        tmp_path / "out",
        "--no-progress",
        *flags,
    ]
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()  # refused before anything is written


# --- 8. coarse-to-fine ---------------------------------------------------------------------------------------


def test_two_scales(small_vgg, pics, tmp_path):
    assert scale_sizes(400, 300, 3) == [(100, 75), (200, 150), (400, 300)] and scale_sizes(W, H, 1) == [(W, H)]
    generated, history, lines = run(small_vgg, pics, tmp_path, scales=2, iterations=20)
    _, single, _ = run(small_vgg, pics, tmp_path / "one", iterations=40)
    assert "Scale 1/2: 16x12" in lines and "Scale 2/2: 32x24" in lines
    out = tmp_path / "out"
    assert iio.imread(out / "scale1_16x12" / "generated_image.jpg").shape == (12, 16, 3)
    assert iio.imread(out / "generated_image.jpg").shape == (H, W, 3) and generated.shape == (1, H, W, 3)
    assert len(history) == 20
    # The full-size stage starts from the upsampled coarse result, far below the noisy start (measured 3.2e7
    # vs 4.1e7 after the first step); see README for the final costs at equal step budgets.
    assert history[0][1] < 0.9 * single[0][1]
    assert history[-1][1] < history[0][1]
