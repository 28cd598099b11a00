"""The `t2vbench` command. Thin: each sub-command lives in `t2vbench/commands/`, parses, calls, prints.

User errors (`UserError`, bad click input) end as one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import sys

import click

from t2vbench import __version__
from t2vbench.commands import data, eval, kth, train  # cheap: each imports torch/numba inside its commands
from t2vbench.errors import UserError

COMMANDS = [data.make_dataset, data.info, data.preview, data.env, kth.make_fixture, kth.review_kth,
            eval.judge, eval.eval_cmd, eval.leaderboard, train.run, train.sample, train.list_cmd]


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


for _command in COMMANDS:
    cli.add_command(_command)


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
