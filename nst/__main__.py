"""`python -m nst`: the command line of `nst.commands.cli`, its exit code as the process's."""

import sys

from nst.commands.cli import main

sys.exit(main())
