"""A bare functions-framework function: the cold-start baseline (bench only).

`python -m functions_framework --target hello --source bench/hello.py` is the
least any function served this way can cost to start.
"""

import functions_framework


@functions_framework.http
def hello(request):
    """Answer every request; nothing is imported or built beyond the framework."""
    return "hello\n"
