"""accsim: a cycle-level simulator of LLM accelerators.

``accsim.run(arch=..., model=..., batch=..., prompt=..., gen=..., overrides={...}) -> Stats``
mirrors the ``accsim run`` command.
"""
__version__ = "0.1.0"


def __getattr__(name: str):
    # accsim.run is the runner's (its signature comes from the Scenario declaration); loading
    # it on first use keeps 'import accsim' cheap
    if name == "run":
        from accsim.runner import run
        return run
    raise AttributeError(f"module 'accsim' has no attribute {name!r}")


__all__ = ["run", "__version__"]
