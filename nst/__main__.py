"""`python -m nst`: the command line of `nst.cli`, its exit code as the process's."""

import sys

from nst.cli import main

sys.exit(main())
