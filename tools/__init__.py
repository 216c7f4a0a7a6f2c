"""The scripts that make nst's committed files: `python -m tools NAME [args]` runs one, `python -m tools` lists them.

    gallery      README's opening picture, docs/gallery.md and its sheets, from real runs (docs/images/gallery/)
    swirls       images/swirls.jpg, the demo's style image, painted from a fixed seed
    mosaic       images/mosaic.jpg, the second style image, painted from a fixed seed
    walkthrough  notebooks/walkthrough.ipynb executed in place on the real ImageNet VGG-16

The benchmarks' results and docs/performance.md are made by the benchmarks (`python -m benchmarks`); the student
notebook by `nst teach student`; the studio's screenshot by its browser test (docs/studio.md).
"""
