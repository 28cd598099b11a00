"""`t2vbench run`, `t2vbench sample`, `t2vbench list`: train baselines, sample from a run, list what exists.

Heavy imports (torch) happen inside the commands so that the CLI starts fast.
"""
from __future__ import annotations

import click

from t2vbench.errors import UserError
from t2vbench.train.config import BUDGETS


@click.command("run")
@click.argument("model")
@click.option("--dataset", "dataset", required=True, type=click.Path(file_okay=False),
              help="dataset folder (the one holding manifest.json), e.g. data/smnist4")
@click.option("--budget", type=click.Choice(list(BUDGETS)), default="quick", show_default=True,
              help="training budget: smoke (CI, < 2 min CPU), quick (<= 30 min on one CPU core), paper (GPU); "
                   "see `t2vbench list`")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="training seed (>= 0; the run folder ends in -seed<S>)")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="runs folder; the run goes to OUT/<model>-<dataset>-<budget>-seed<S>/")
@click.option("--resume", is_flag=True,
              help="continue a stopped run in the same folder (same result); with no run there yet, start it "
                   "(and say so)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config value, e.g. --set train.iters=500 --set model.ngf=32 (repeatable)")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="cpu or cuda (default: cuda when present; under torchrun each rank takes its LOCAL_RANK GPU)")
@click.option("--judge", default=None, type=click.Path(dir_okay=False),
              help="judge file for the evaluation (default: the one shipped for the dataset)")
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch (default: torch's choice; use 1 on a busy shared machine)")
@click.option("--no-eval", is_flag=True, help="skip the evaluation and leaderboard step")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars or information lines (warnings and errors only)")
def run(model, dataset, budget, seed, out, resume, overrides, device, judge, threads, no_eval, quiet):
    """Train MODEL on a dataset for a training budget, write samples and checkpoints, evaluate it under the
    frozen protocol, add a leaderboard row. A run that fails (a non-finite loss, a damaged checkpoint,
    a full disk) exits non-zero with one line and writes no result.

    \b
    Examples:
      t2vbench run ircgan --dataset data/smnist4 --budget smoke
      t2vbench run tgans-c --dataset data/smnist4 --budget quick --seed 1
      torchrun --standalone --nproc-per-node 2 -m t2vbench.cli run ircgan --dataset data/smnist4 --budget paper
    """
    from t2vbench.train.config import load_spec
    from t2vbench.train.runner import run as run_training

    load_spec(model)  # unknown model: one clear line before anything heavy
    if threads is not None:
        if threads < 1:
            raise UserError("--threads must be at least 1")
        import torch

        torch.set_num_threads(threads)
    run_dir = run_training(model, dataset, budget=budget, seed=seed, out=out, resume=resume,
                           overrides=list(overrides), device=device, evaluate=not no_eval, judge=judge,
                           progress=not quiet)
    click.echo(str(run_dir))


@click.command("sample")
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False))
@click.option("--caption", required=True, help='e.g. "digit 3 is moving left then right"')
@click.option("--out", "out", default="clip.gif", show_default=True, type=click.Path(dir_okay=False),
              help="GIF to write")
@click.option("--n", "n", default=1, show_default=True, type=click.IntRange(1, 64),
              help="number of samples (a row of clips)")
@click.option("--seed", type=int, default=0, show_default=True, help="first sample's seed")
@click.option("--fps", type=click.IntRange(min=1), default=8, show_default=True)
def sample(run_dir, caption, out, n, seed, fps):
    """Generate clips for CAPTION from a trained run folder RUN."""
    import torch

    from t2vbench.data.vocab import Vocabulary, tokenize
    from t2vbench.train.runner import load_run
    from t2vbench.train.samples import write_grid

    model, identity = load_run(run_dir)
    ds = identity["dataset"]
    vocab = Vocabulary(ds["vocabulary"])
    unknown = [w for w in tokenize(caption) if w not in vocab.index]
    if unknown:
        raise UserError(f"the caption has words this model never saw ({', '.join(unknown)}); "
                        f"its vocabulary: {' '.join(vocab.words[4:])}")
    _check_grammar(caption, ds)
    try:
        ids = vocab.encode(caption, ds["token_length"])
    except ValueError as e:
        raise UserError(str(e)) from None
    tokens = torch.from_numpy(ids.astype("int64"))[None].repeat(n, 1)
    videos = model.generate(tokens, torch.arange(seed, seed + n))
    write_grid(out, videos.numpy(), [caption] * n, cols=min(n, 8), fps=fps)
    click.echo(out)


def _check_grammar(caption: str, ds: dict) -> None:
    """Known words are not enough ("digit 3" would pass): the caption must parse by the dataset's
    grammar. Checked when the run's dataset is still where it was trained."""
    from t2vbench.data.handle import open_dataset
    from t2vbench.eval.caption import CaptionParser

    try:
        dataset = open_dataset(ds["root"])
    except (UserError, KeyError, OSError):
        return
    parser = CaptionParser.from_dataset(dataset, list(dataset.labels))
    slots = int(dataset.config.get("digits_per_video", 1))
    parser.labels_for([caption], slots)


@click.command("list")
def list_cmd():
    """Models, datasets and training budgets."""
    from t2vbench.registry import DATASETS
    from t2vbench.train.config import describe, model_names

    click.echo("models:")
    for name in model_names():
        d = describe(name)
        extra = f" [config of {d['inherits']}]" if d["inherits"] else ""
        click.echo(f"  {name:<12} {d['title']}{extra}")
    click.echo("datasets:")
    for name in sorted(DATASETS):
        click.echo(f"  {name}")
    click.echo("budgets:")
    for name, text in BUDGETS.items():
        click.echo(f"  {name:<12} {text}")
