"""Help texts for the command line: docstrings as plain text, every default shown.

Module docstrings double as ``--help`` descriptions; :func:`plain` strips the
reST markup they use (````x````, ``:class:`~a.B```) so a terminal shows
``x`` and ``B``.
"""

from __future__ import annotations

import argparse
import re
import textwrap

__all__ = ["HelpFormatter", "plain"]

_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain(text: str) -> str:
    """*text* without reST roles and literal quotes; a role shows its last name part."""

    def role(m: re.Match[str]) -> str:
        tilde, target = m.groups()
        return target.rsplit(".", 1)[-1] if tilde else target

    text = _ROLE.sub(role, text)
    text = _LITERAL.sub(r"\1", text)
    return text.replace("::\n", ":\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Paragraphs wrapped one by one, lists and indented blocks kept; every default shown."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        # never break inside a hyphenated name (zstd-dict:3, --redis-url)
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for block in re.split(r"\n\s*\n", text.strip("\n")):
            lines = block.splitlines()
            if any(line.startswith((" ", "- ", "* ")) for line in lines):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(
                    textwrap.fill(
                        " ".join(line.strip() for line in lines),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                        break_on_hyphens=False,
                    )
                )
        return "\n\n".join(out)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in ("?", "*"):
            return f"{text} (default: %(default)s)"
        return text
