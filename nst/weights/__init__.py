"""The network's weights: the MatConvNet VGG file found, downloaded, verified, read once and safely, and checked.

    download     the VGG-19 file: where it goes, download with resume, MD5 and SHA-256, the official files
    cache        the weights read once in a child process (scipy's reader may crash) and cached beside the file
    matconvnet   reading MatConvNet's .mat layouts (no TensorFlow)
    classify     the whole network with its classifier (ImageNet classes), for `nst check-weights`
    check        `nst check-weights`: is the file official, which kernel layout was it trained with
    testnet      small random-weight networks in MatConvNet's layout, for tests, the notebooks and benchmarks
"""
