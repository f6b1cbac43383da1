"""Errors that carry a message meant for the user.

The CLI prints ``str(err)`` as one line and exits non-zero; nodes log it as a
warning and drop the offending message. Anything else is a bug and keeps its
traceback.
"""


class AvatarError(Exception):
    """Bad input or an unusable environment, explained in one line."""


class InputError(AvatarError):
    """A file, message or argument that cannot be used as given."""
