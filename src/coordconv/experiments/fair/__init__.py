"""The fair comparison: every arm (CoordConv and three baselines) tuned on Ray Tune under the same
budget on validation, the selected configurations retrained on fresh seeds, and its report.
Builds on the Not-so-Clevr study; registers nothing of its own."""
