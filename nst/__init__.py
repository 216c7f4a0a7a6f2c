"""nst: the deeplearning.ai "Art Generation with Neural Style Transfer" homework on TensorFlow 2.

Where each homework function lives:
    load_vgg_model                      nst.vgg
    compute_content_cost, gram_matrix,
    compute_layer_style_cost,
    compute_style_cost, total_cost      nst.costs
    reshape_and_normalize_image,
    generate_noise_image, save_image    nst.images
    model_nn                            nst.optimize  (L-BFGS instead: nst.lbfgs)

The run around them, one concept per module:
    transfer      one whole run (`style_transfer`): inputs -> model -> targets -> optimise per scale -> outputs
    targets       content activations and style Grams (blended styles, style scale)
    objective     J for fixed targets (fp32/bf16, TV) and its gradient
    cost_functions  the cost functions J is built with: nst.costs's or the caller's (a student's)
    start_image   the start image (`--init`: noise, the content, a file)
    config        the `Config` dataclass; its defaults are the homework's
    cli, console  the command line (`SUBCOMMANDS`), one-line errors and exit codes
    checkpoint    `--resume`: checkpoint.npz
    interrupt     Ctrl-C and SIGTERM at step boundaries
    report        pictures and run.json beside a run's images
    compare       `nst compare`
    costs_csv     costs.csv
    colors        `--preserve-colors`
    device        the hardware: the device line, GPU memory growth, `--precision auto`
    files         atomic writes, the output folder
    shipped       the demo images and notebooks, in the installed package or the checkout
    errors        NstError, RunInterrupted

One package per product beside the homework:
    nst.weights   the VGG file: where it lives ($NST_HOME), download and checksums, the ImageNet VGG-16
                  fallback, read once and cached, MatConvNet's layouts, the classifier and `nst check-weights`,
                  small test networks
    nst.teaching  the homework as an exercise: `nst teach`, `nst grade`, its checks and known mistakes, the
                  homework's test values, what the notebooks share, Gradescope's zip, nbgrader's tests
    nst.studio    `nst studio`: the web page and its runs
"""

__version__ = "0.1.0"
