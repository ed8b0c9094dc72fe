"""Plugin API: ``accsim.presets`` is ``accsim.core.presets`` (the name plugins and their entry points
import; the module object itself, so a plugin sees and patches the same registry)."""
import sys

from accsim.core import presets as _module

sys.modules[__name__] = _module
