"""The teaching kit: the homework as an exercise, the student version to hand out, and the grader.

student          `nst teach student|notebook|autograder`: the student version of a homework notebook, the
                 shipped notebooks written out
autograder       `nst teach autograder`: Gradescope's autograder.zip, and what it runs for each submission
nbgrader_checks  nbgrader's autograder tests of the homework notebook, run in the student's kernel
grader           `nst grade`: submissions graded function by function, several sandboxes at once
sandbox          each submission in a sandbox of its own (bubblewrap, or a uid of its own), its limits, the talk
protocol         what a sandbox may say: each message checked against a strict schema
runner           inside a sandbox: the notebook's cells in a kernel, the functions measured as asked
harness          inside a sandbox's kernel: the graded functions called, their raw results as data
function_checks  the verdict, in the grader: inputs, references, comparisons, known mistakes, points
mistakes         the known mistakes, each a wrong variant with a sentence naming it
homework_values  the homework's own test inputs and published expected outputs, for the notebooks
notebook         what the notebooks share: their settings and the VGG-19 model they run on
submissions      made-up submissions (right, known mistakes, hostile) for the grader's tests and benchmark
gradescope_layout  Gradescope's container as far as it can be had here, for the autograder's tests and benchmark
"""
