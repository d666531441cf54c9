"""Code that runs INSIDE the sandbox, next to the student's code.

It is imported there as the top-level package `grader_runner` (see `grader.stagerun.install_runner`, which
puts a copy of `grader/protocol.py` beside it), so it must use relative imports only and never import
`grader`: the rest of the grader, the rubric and the references are not reachable from the sandbox. It loads
the student's files, runs them on the inputs the parent sent, and sends back raw outputs (JSON lines and
`.npy` without pickle). It judges nothing.
"""
