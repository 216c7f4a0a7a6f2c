"""nst's benchmarks: `python -m benchmarks NAME [args]` runs one, `python -m benchmarks` lists them.

Each benchmark is a module here with a `main(argv)`; what they share (the machine's description, worker processes,
the benchmark nets and images, fixed targets, Adam and L-BFGS to a target) is in benchmarks.common. Results go to
benchmarks/results/*.json; `python -m benchmarks report` makes docs/performance.md from them. Timings live there,
never in the tests (BENCHMARKS.md).
"""
