"""A small shop whose checkout ``python -m shop`` runs; ``--slow`` makes ``pricing.discount`` 1.5x slower
(the regression ``pylu-analyze diff`` should find, see README's CI section and stub/tests/test_run.py)."""
