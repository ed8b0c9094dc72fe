"""Request-level serving on any family: arrivals, batching policies, paged KV, SLOs.

``Server(scenario).serve(requests, policy)`` turns the family's step simulator (reached through the
family contract only: the mapper's lowering and capacity check, the family's ``simulate``)
into a serving simulator: ``requests`` (``accsim.serving.requests``) arrive, the policy
(``accsim.serving.engine``) forms each iteration, every pass it asks for is simulated
cycle-level and memoised (``accsim.serving.steps``), and the figures come out per request and
as percentiles (``accsim.serving.metrics``). ``find_max_rate`` and ``find_max_batch`` search
the highest load that meets the SLOs (``accsim.serving.server``). ``accsim.serving.run`` runs
one ``ServeOptions`` (``accsim.serving.options``), for the CLI and for sweeps.

This package module imports nothing, so that the CLI can read the options cheaply.
"""
