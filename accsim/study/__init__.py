"""Many simulations: design-space sweeps (grid, constraints, parallel and cluster runs) and the
results database they fill."""
