"""The style-transfer engine: the objective (whole or tiled), its memory plan and the driver; no files, no printing."""
