"""Where a run's events go: the command line's files and progress, the studio's event log, a notebook's plot.

A sink is a function of one event (nst.engine.events), made for a run by a function of this package:
    run_files     the command line's files: <i>.png, costs.csv, checkpoint.npz, generated_image.jpg (per scale)
    progress      the progress bar and the homework's log lines
    report        the pictures and run.json written after a run
    checkpoint    checkpoint.npz, the file format
    costs_csv     costs.csv, the file format
"""
