"""The engine every study uses and that names no study: configs, the training loop, checkpoints
and ``result.json``, the run grid, io, the study registry, the selection rule, report helpers.

Nothing here imports a study; a study registers itself (``core.registry.register``)."""
