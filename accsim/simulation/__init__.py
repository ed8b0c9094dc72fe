"""One simulation from a scenario: the Scenario declaration, the runner (lower every pass onto
the family's model, sample decode steps, speculative decoding), and the composition of experts
on top of the runner (``api.run_scenario`` dispatches; the runner knows nothing of CoE)."""
