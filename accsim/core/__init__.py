"""The simulation kernel every layer above stands on: errors, units, the config schema and its
loader, the family/mapper registry and presets, the Program IR, stats, capacity and memory
limits, safe file output, power, memory traces and the event ``engine``. Imports nothing of
accsim's other layers (the families and mappers are found through the registry at run time)."""
