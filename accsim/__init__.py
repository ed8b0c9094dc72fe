"""accsim: a cycle-level simulator of LLM accelerators.

``accsim.run(arch=..., model=..., batch=..., prompt=..., gen=..., overrides={...}) -> Stats``
mirrors the ``accsim run`` command.
"""
__version__ = "0.1.0"


def run(*args, **kwargs):
    """Simulate a generation scenario; see accsim.runner.run."""
    from accsim.runner import run as _run
    return _run(*args, **kwargs)


__all__ = ["run", "__version__"]
