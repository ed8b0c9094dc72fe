"""accsim: a cycle-level simulator of LLM accelerators.

``accsim.run(arch=..., model=..., batch=..., prompt=..., gen=..., overrides={...}) -> Stats``
mirrors the ``accsim run`` command; ``accsim.sweep(spec, db=..., jobs=...)`` mirrors
``accsim sweep``, ``accsim.serve(arch=..., model=..., rate=..., policy=..., ...)`` mirrors
``accsim serve``, and ``accsim.results.load(db)`` reads a sweep's results as a pandas DataFrame.
"""
__version__ = "0.1.0"


def __getattr__(name: str):
    # accsim.run is the runner's (its signature comes from the Scenario declaration) and
    # accsim.sweep the sweep module's; loading them on first use keeps 'import accsim' cheap
    if name == "run":
        from accsim.simulation.api import run
        return run
    if name == "sweep":
        from accsim.study.sweeps import sweep
        return sweep
    if name == "serve":
        from accsim.serving.run import serve
        return serve
    if name == "results":
        import accsim.study.results as results
        return results
    raise AttributeError(f"module 'accsim' has no attribute {name!r}")


__all__ = ["run", "serve", "sweep", "results", "__version__"]
