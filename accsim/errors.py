"""Plugin API: ``accsim.errors`` is ``accsim.core.errors`` (the name plugins and their entry points
import; the module object itself, so a plugin sees and patches the same registry)."""
import sys

from accsim.core import errors as _module

sys.modules[__name__] = _module
