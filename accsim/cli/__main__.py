"""``python -m accsim.cli``: the same as the ``accsim`` command."""
import sys

from accsim.cli import main

sys.exit(main())
