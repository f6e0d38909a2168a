"""`python -m brainmass_eqx.cli`."""

import sys

from ._main import main


sys.exit(main())
