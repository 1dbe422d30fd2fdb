"""Errors whose message is safe and useful to show a learner as it is."""


class UserError(Exception):
    """A known problem with what the learner asked (bad input, a missing slide, a full queue).

    Front ends show ``str(error)`` as a short message; anything else is logged and apologised for.
    """
