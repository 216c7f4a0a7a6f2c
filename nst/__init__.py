"""nst: the deeplearning.ai "Art Generation with Neural Style Transfer" homework on TensorFlow 2.

Where each homework function lives:
    load_vgg_model                      nst.vgg
    compute_content_cost, gram_matrix,
    compute_layer_style_cost,
    compute_style_cost, total_cost      nst.costs
    reshape_and_normalize_image,
    generate_noise_image, save_image    nst.images
    model_nn                            nst.optimize  (L-BFGS instead: nst.lbfgs)
"""

__version__ = "0.1.0"
