"""The homework's choices, as numbers: layers and their weights, alpha and beta, the image means, Adam, the run's size.

Every default of a run comes from here (nst.settings), and the engine's defaults too, so that a run with no
options is the homework's, number for number. Nothing here imports TensorFlow.
"""

CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = (("conv1_1", 0.2), ("conv2_1", 0.2), ("conv3_1", 0.2), ("conv4_1", 0.2), ("conv5_1", 0.2))
ALPHA = 10.0
BETA = 40.0

MEANS_RGB = (123.68, 116.779, 103.939)
"""The VGG training set's RGB channel means (the homework's CONFIG.MEANS)."""
NOISE_RATIO = 0.6
NOISE_RANGE = 20.0  # the start image's noise is U(-20, 20)

LEARNING_RATE = 2.0
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-8
ADAM_STEPS = 200
SAVE_EVERY = 20

WIDTH = 400
HEIGHT = 300
