"""The engine: a run's maths and its one driver, with no files written and nothing printed.

    network    the VGG forward pass (the homework's conv + ReLU + average pooling), kernels made once per dtype
    targets    the content activations and the style Grams (blended, scaled), computed once
    objective  J for fixed targets (fp32/bf16, TV, the caller's own cost functions) and its gradient
    problem    what a run paints, resolved, and its objective at any size (coarse to fine)
    adam       TF1 Adam on the pixels, bit for bit
    lbfgs      scipy's L-BFGS-B on the pixels, bounded, as iterations
    driver     paint(): Adam or L-BFGS at each scale, yielding events; a stop and a resume
    events     what the driver yields: ScaleStarted, Step, ScaleFinished, Checkpoint
    start      the start image (--init)
    colors     --preserve-colors (YCbCr)
    tiling     where the tiles of a tiled evaluation lie: halos, alignment, what each tile owns (no TensorFlow)
    tiles      the objective evaluated in tiles, exactly (print sizes within a memory budget)
    memory     the bytes a run holds and the tile plan that fits a budget (no TensorFlow)
    device     the hardware's choices: the device line, --precision auto, the conv input gradient per CPU kind

The command line, the studio and notebooks are sinks of its events (nst.sinks); none of this imports a Config.
"""
