"""Tokens in colour with ANSI escape codes: Discord's ```` ```ansi ```` code blocks and terminals.

A front-end concern (no Discord import here): the Discord cog and the command line draw a
:class:`~bot.domain.tokenizers.Tokenization` with :func:`render_ansi`.
"""

from __future__ import annotations

from bot.domain.tokenizers import NEWLINE_MARK, Tokenization

# Foregrounds of Discord's ANSI palette (Solarized accents) that read on dark and light themes:
# red, green, yellow, blue, pink, cyan. Grey (30) and white (37) each vanish on one theme.
ANSI_COLOURS: tuple[int, ...] = (31, 32, 33, 34, 35, 36)
_RESET = "\x1b[0m"


def _more(count: int) -> str:
    return f"… {count} more token{'' if count == 1 else 's'}"


def render_ansi(tok: Tokenization, limit: int, *, fence: bool = True) -> str:
    """The tokens in colours that alternate from one token to the next, at most ``limit`` chars.

    With ``fence`` (the default) the result is a whole ```` ```ansi ```` code block, fences
    counted in ``limit``. Each newline token also breaks the line after its ``↵``. When the
    tokens do not fit, as many as fit are shown, then a line ``… N more tokens``. Backticks get
    a zero-width space after them so that token text cannot close the block.
    """
    head = "```ansi\n" if fence else ""
    foot = "\n```" if fence else ""
    if not tok.tokens:
        empty = f"{head}(no tokens){foot}"
        return empty if len(empty) <= limit else "(no tokens)"[: max(limit, 0)]

    def tail(remaining: int) -> str:
        return _RESET + (f"\n{_more(remaining)}" if remaining else "") + foot

    parts: list[str] = [head]
    used = len(head)
    total = len(tok.tokens)
    shown = 0
    for index, token in enumerate(tok.tokens):
        text = token.replace("`", "`\u200b").replace(NEWLINE_MARK, NEWLINE_MARK + "\n")
        piece = f"\x1b[{ANSI_COLOURS[index % len(ANSI_COLOURS)]}m{text}"
        if used + len(piece) + len(tail(total - index - 1)) > limit:
            break
        parts.append(piece)
        used += len(piece)
        shown += 1
    if shown == 0 and used + len(tail(total)) > limit:
        return _more(total)[: max(limit, 0)]  # not even the frame fits
    parts.append(tail(total - shown))
    return "".join(parts)
