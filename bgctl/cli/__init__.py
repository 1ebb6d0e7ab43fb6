"""The command line: one module per verb; here the group, and errors turned into exit codes.

Each verb's module holds its click command (parse, call its operation,
print) and the operation itself, which returns data.
"""

from __future__ import annotations

import importlib
import sys
from typing import Optional

import click

from bgctl import __version__
from bgctl.core.errors import EXIT_FAILED, EXIT_INVALID, BgctlError

EXIT_INTERRUPTED = 130  # the shell's code for a Ctrl-C

# Each verb: the module that holds its click command, and the command's name there. A run
# imports only its own verb's module: importing all of them (the Docker SDK, botocore, rich,
# the ECS API server) cost every `bgctl status` about half a second of CPU.
COMMANDS = {
    "up": ("bgctl.cli.up", "up"),
    "status": ("bgctl.cli.status", "status"),
    "deploy": ("bgctl.cli.deploy", "deploy"),
    "continue": ("bgctl.cli.continue_", "continue_"),
    "rollback": ("bgctl.cli.rollback", "rollback"),
    "demo": ("bgctl.cli.demo", "demo"),
    "down": ("bgctl.cli.down", "down"),
    "images": ("bgctl.cli.images", "images"),
    "deployments": ("bgctl.cli.deployments", "deployments"),
    "describe": ("bgctl.cli.describe", "describe"),
    "watch": ("bgctl.cli.watch", "watch"),
    "serve": ("bgctl.cli.serve", "serve"),
}


class _Verbs(click.Group):
    """The verbs of COMMANDS, each imported when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module), name)


@click.group(cls=_Verbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bgctl")
def app() -> None:
    """ECS native blue/green deployments with Service Connect test traffic, on one machine."""


def main(argv: Optional[list[str]] = None) -> None:
    try:
        app.main(args=argv, prog_name="bgctl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except click.UsageError as exc:
        sys.stderr.write(f"bgctl: {_sentence(exc.format_message())}\n")
        sys.exit(EXIT_INVALID)
    except (click.Abort, KeyboardInterrupt):
        sys.stderr.write("bgctl: interrupted.\n")
        sys.exit(EXIT_INTERRUPTED)
    except BgctlError as exc:
        sys.stderr.write(f"bgctl: {_sentence(str(exc))}\n")
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: still one sentence, never a traceback
        sys.stderr.write(f"bgctl: unexpected error ({type(exc).__name__}: {exc}); please report it.\n")
        sys.exit(EXIT_FAILED)
    sys.exit(0)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."
