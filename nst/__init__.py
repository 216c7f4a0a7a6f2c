"""nst: the deeplearning.ai "Art Generation with Neural Style Transfer" homework on TensorFlow 2.

Where each homework function lives:
    load_vgg_model                      nst.vgg
    compute_content_cost, gram_matrix,
    compute_layer_style_cost,
    compute_style_cost, total_cost      nst.costs
    reshape_and_normalize_image,
    generate_noise_image, save_image    nst.images
    model_nn                            nst.optimize  (L-BFGS instead: nst.lbfgs)

The rest, one concept per module:
    transfer      one whole run (`style_transfer`): inputs -> model -> targets -> optimise per scale -> outputs
    targets       content activations and style Grams (blended styles, style scale)
    objective     J for fixed targets (fp32/bf16, TV) and its gradient
    start         the start image (`--init`)
    config        the `Config` dataclass; its defaults are the homework's
    cli, console  the command line (`SUBCOMMANDS`), one-line errors and exit codes
    checkpoint    `--resume`: checkpoint.npz
    interrupt     Ctrl-C and SIGTERM at step boundaries
    report        pictures and run.json beside a run's images
    compare       `nst compare`
    costs_csv     costs.csv
    colors        `--preserve-colors`
    device        the hardware: the device line, GPU memory growth, `--precision auto`
    weights       the VGG-19 file: download and checksums
    weights_cache the weights read once and safely (a child process) and cached beside the file
    matconvnet    reading MatConvNet's .mat layouts (no TensorFlow)
    classify      the whole VGG-19 with its classifier; check_weights: `nst check-weights`
    files         atomic writes
    errors        NstError, RunInterrupted
    testnet       small VGG-19 files in MatConvNet's layout, for tests
    homework      the homework's test inputs and expected outputs, for the notebooks
    homework_functions  a run's cost functions: nst.costs's or the caller's (a student's)
    notebook      what the notebooks share: settings and model
    teach         `nst teach student`: the student version of a homework notebook
    grading       `nst grade`; checks: the checks run in a submission's kernel; mistakes: the known mistakes
    studio        `nst studio`, the web page; studio_runs: its runs as child processes
"""

__version__ = "0.1.0"
