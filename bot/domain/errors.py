"""Errors whose message is safe and useful to show a learner as it is."""


class UserError(Exception):
    """A known problem with what the learner asked (bad input, a missing slide, a full queue).

    Front ends show ``str(error)`` as a short message; anything else is logged and apologised for.
    """


class ServiceUnavailable(RuntimeError):
    """A service the bot needs (the Chroma server, the database, Discord) cannot be used.

    The message is one line for the operator: what, where and what to check; never a secret.
    Front ends print it as it is, without a traceback.
    """
