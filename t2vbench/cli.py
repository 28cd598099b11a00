"""The `t2vbench` command. Thin: each sub-command lives in `t2vbench/commands/`, parses, calls, prints.

User errors (`UserError`, bad click input) end as one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import importlib
import sys

import click

from t2vbench import __version__
from t2vbench.errors import UserError

# module:attribute of each click command; a module must import heavy libraries inside its functions.
COMMANDS = [
    "t2vbench.commands.data:make_dataset",
    "t2vbench.commands.data:info",
    "t2vbench.commands.data:preview",
    "t2vbench.commands.data:env",
    "t2vbench.commands.kth:make_fixture",
    "t2vbench.commands.kth:review_kth",
    "t2vbench.commands.eval:judge",
    "t2vbench.commands.eval:eval_cmd",
    "t2vbench.commands.eval:leaderboard",
    "t2vbench.commands.train:run",
    "t2vbench.commands.train:sample",
    "t2vbench.commands.train:list_cmd",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="t2vbench")
def cli():
    """t2vbench: captioned video datasets you can trust, baselines to beat, a frozen protocol.

    \b
    Typical session:
      t2vbench make-dataset smnist4 --n 12000     # write data/smnist4/ (train + test shards)
      t2vbench info data/smnist4                  # counts, shapes, captions, provenance
      t2vbench preview data/smnist4 --out p.gif   # look at clips with their captions
    """


for _spec in COMMANDS:
    _module, _attr = _spec.split(":")
    try:
        cli.add_command(getattr(importlib.import_module(_module), _attr))
    except ModuleNotFoundError as _e:  # a part of the toolkit not built yet; any other error is a bug
        if _e.name != _module:
            raise


RESUME_HINT = "re-run the same command to resume (`t2vbench run`: add --resume)"


def main(argv=None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="t2vbench", standalone_mode=False)
        if isinstance(rv, int) and rv:
            return rv
    except UserError as e:
        click.echo(f"t2vbench: error: {e}", err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo(f"t2vbench: interrupted; {RESUME_HINT}", err=True)
        return 130
    except click.ClickException as e:  # bad usage: one line, with the way to more help
        hint = ""
        if isinstance(e, click.UsageError) and e.ctx is not None:
            hint = f" (see `{e.ctx.command_path} --help`)"
        click.echo(f"t2vbench: error: {e.format_message()}{hint}", err=True)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
