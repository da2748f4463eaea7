"""Errors raised by the state model.

`InvalidEvent` is raised by the reducer when an event would break an invariant. The reducer checks
everything before it changes anything, so the state is untouched when this is raised.
"""


class InvalidEvent(ValueError):
    """An event that cannot be applied to the current state."""

    def __init__(self, event: object, problem: str) -> None:
        self.event = event
        self.problem = problem
        name = type(event).__name__
        super().__init__(f"{name} refused: {problem}")


class SerialisationError(ValueError):
    """A value that cannot be written to or read from the state's JSON form."""
