"""Command results that read well when the controller prints them."""


class Text(str):
    """A string whose repr is itself, so ``LU.ls()`` typed at the controller prints a table, not a literal."""

    def __repr__(self) -> str:
        return str(self)
