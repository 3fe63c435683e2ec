"""The commands written in the docs and shipped examples, checked against the real Typer app without running them.

``fenced_blocks`` pulls the fenced code blocks of one language out of a Markdown file; ``shell_commands`` splits
shell text into simple commands (quotes spanning lines, ``&&``, ``|``, ``&``, redirections, comments, ``VAR=value``
prefixes); ``check_b2bscore`` resolves a ``b2bscore ...`` command's subcommands and parses its options and
arguments exactly as the CLI would (types, choices, date formats), but calls nothing.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer.main

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_CONTROL = {";", "&&", "||", "|", "&", "(", ")"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def fenced_blocks(markdown: str, language: str) -> list[str]:
    """The bodies of the fenced blocks tagged ``language`` (```python, ```bash), in order."""
    return [body for lang, body in FENCE.findall(markdown) if lang == language]


def _logical_lines(script: str):
    """Lines joined where a backslash continues them or a quote is still open."""
    pending = ""
    for line in script.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # "No closing quotation": the quoted text goes on on the next line
            continue
        yield pending
        pending = ""
    if pending:
        raise ValueError(f"unbalanced quotes in: {pending[:200]}")


def shell_commands(script: str) -> list[list[str]]:
    """Every simple command of ``script`` as its words: program first, no assignments, no redirections."""
    commands = []
    for line in _logical_lines(script):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        redirected = False
        for token in [*lexer, ";"]:
            if token in _CONTROL:
                while words and _ASSIGNMENT.match(words[0]):
                    words.pop(0)
                if words:
                    commands.append(words)
                words, redirected = [], False
            elif set(token) <= set("<>&") and ("<" in token or ">" in token):
                if not redirected and words and words[-1] in ("1", "2"):
                    words.pop()  # the file descriptor of `2>&1`, not an argument
                redirected = True  # what follows, up to the next command, is redirections
            elif not redirected:
                words.append(token)
    return commands


def b2bscore_invocations(script: str) -> list[list[str]]:
    """The arguments of every ``b2bscore`` (or ``.../bin/b2bscore``) command in ``script``."""
    return [words[1:] for words in shell_commands(script) if Path(words[0]).name == "b2bscore"]


def check_b2bscore(args: list[str]) -> str:
    """Resolve ``b2bscore ARGS`` against the app and parse its parameters; returns the command's name.

    Raises AssertionError naming an unknown command, and the CLI's UsageError for an unknown option, a bad value
    or a missing required parameter -- the errors the real command would give, without running it.
    """
    from b2bscore.cli import app

    command = typer.main.get_command(app)  # a click-style command tree (Typer may bring its own copy of click)
    path = ["b2bscore"]
    rest = list(args)
    while isinstance(getattr(command, "commands", None), dict):  # a group: the next word names a subcommand
        if not rest:
            raise AssertionError(f"`{' '.join(path)}` needs a subcommand: {', '.join(sorted(command.commands))}")
        name = rest.pop(0)
        if name not in command.commands:
            raise AssertionError(f"`{' '.join(path)} {name}`: no such command; "
                                 f"commands are {', '.join(sorted(command.commands))}")
        path.append(name)
        command = command.commands[name]
    context = command.make_context(" ".join(path), rest)  # parses and converts every parameter, invokes nothing
    context.close()
    return " ".join(path[1:])
