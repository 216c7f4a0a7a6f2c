"""The teaching kit: the homework as an exercise, the student version to hand out, and the grader.

    student          `nst teach student`: the student version of a homework notebook
    grader           `nst grade`: submissions run and graded function by function
    function_checks  the graded functions checked by behaviour (run in a submission's kernel)
    mistakes         the known mistakes, each a wrong variant with a sentence naming it
    homework_values  the homework's own test inputs and published expected outputs, for the notebooks
    notebook         what the notebooks share: their settings and the VGG-19 model they run on
"""
