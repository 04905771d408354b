"""The paper's reproduction: Not-so-Clevr, the three toy tasks, training, the grid and its report.

Built on the library (``coordconv``); the library never imports this package.
"""
