"""The command line: one module per verb; here the group, and errors turned into exit codes.

Each verb's module holds its click command (parse, call its operation,
print) and the operation itself, which returns data.
"""

from __future__ import annotations

import sys
from typing import Optional

import click

from bgctl import __version__
from bgctl.cli.continue_ import continue_
from bgctl.cli.demo import demo
from bgctl.cli.deploy import deploy
from bgctl.cli.deployments import deployments
from bgctl.cli.describe import describe
from bgctl.cli.down import down
from bgctl.cli.images import images
from bgctl.cli.rollback import rollback
from bgctl.cli.serve import serve
from bgctl.cli.status import status
from bgctl.cli.up import up
from bgctl.cli.watch import watch
from bgctl.core.errors import EXIT_FAILED, EXIT_INVALID, BgctlError

EXIT_INTERRUPTED = 130  # the shell's code for a Ctrl-C


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bgctl")
def app() -> None:
    """ECS native blue/green deployments with Service Connect test traffic, on one machine."""


for command in (up, status, deploy, continue_, rollback, demo, down, images, deployments, describe, watch, serve):
    app.add_command(command)


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
