"""Evaluation commands: `judge train`, `eval`, `leaderboard`. Heavy imports stay inside the functions."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from t2vbench.errors import UserError


@click.group("judge")
def judge():
    """Judges: small networks that read back what a caption promises (digit and motion per slot;
    KTH-4: action and direction). MNIST judges ship with t2vbench; KTH-4's is trained by you."""


@judge.command("train")
@click.argument("dataset_path", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Judge file to write (default: judge-<dataset>.pt); its metadata goes to <out>.json.")
@click.option("--steps", type=int, default=None,
              help="Override the recipe's clip steps (recorded; for smoke tests). Two-digit judges' stage 2b "
                   "takes twice as many.")
@click.option("--frame-steps", type=int, default=None, help="Override the recipe's frame steps (recorded).")
@click.option("--max-train-videos", type=int, default=None, help="Override the recipe's train-video cap (recorded).")
@click.option("--recipe", "recipe_from", default=None, metavar="FAMILY|FILE",
              help="Start from a recorded recipe instead of today's: a shipped family (smnist4, ...) reproduces "
                   "its judge (byte for byte on a CPU with the instruction set it records); or a JSON "
                   "file (a recipe, or a judge's <out>.json). A recipe recorded for another dataset family "
                   "is refused.")
@click.option("--stages-from", type=click.Path(dir_okay=False), default=None, metavar="JUDGE.pt",
              help="Reuse what JUDGE.pt (same dataset, same stage 1-2 recipe) holds and train only the rest: "
                   "stages 1-2 always; stage 2b when it has it (else only 2b is trained); stage 3 and each "
                   "crop reader when trained the same way (a reader whose draws, steps or warps differ is "
                   "trained again). The file equals a full run's, in a fraction of the time.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def judge_train(dataset_path, out, steps, frame_steps, max_train_videos, recipe_from, stages_from, quiet):
    """Train a judge on DATASET_PATH's real train split with the fixed, deterministic recipe, then
    certify it on the real test split (accuracy per attribute, written beside it).

    \b
    Examples:
      t2vbench judge train data/kth4 --out judges/kth4.pt
      t2vbench judge train data/dmnist2 --recipe dmnist2     # re-make the shipped dmnist2 judge
      t2vbench eval --samples my_kth_samples.h5 --dataset data/kth4 --judge judges/kth4.pt
    """
    from t2vbench.data.format import write_json_atomic
    from t2vbench.data.handle import open_dataset
    from t2vbench.judge.recipe import recorded_recipe
    from t2vbench.judge.train import train_judge

    dataset = open_dataset(dataset_path)
    out = Path(out or f"judge-{dataset.name}.pt")
    overrides = {k: v for k, v in (("steps", steps), ("frame_steps", frame_steps),
                                   ("max_train_videos", max_train_videos)) if v is not None}
    for k, v in overrides.items():
        if v <= 0:  # 0 steps would write an untrained judge
            raise UserError(f"--{k.replace('_', '-')} must be positive (got {v})")
    base = recorded_recipe(recipe_from, family=dataset.name) if recipe_from else {}
    meta = train_judge(dataset, out, recipe={**base, **overrides}, progress=not quiet, stages_from=stages_from)
    write_json_atomic(out.with_suffix(out.suffix + ".json"), meta)
    acc = ", ".join(f"{k} {v * 100:.2f}%" for k, v in meta["real_test_accuracy"].items())
    click.echo(f"{out}: sha256 {meta['sha256']}, {meta['bytes'] / 1024:.0f} KiB; real test: {acc}")


@click.command("eval")
@click.option("--dataset", "dataset", type=click.Path(), required=True, help="Dataset folder (OUT/NAME).")
@click.option("--samples", type=click.Path(dir_okay=False), default=None,
              help="HDF5 with 'video' uint8 (N, T, H, W, C) and 'caption' strings (the shard layout); "
                   "sample i should show test caption i (cycling). Optional attributes model, train_seed, "
                   "eval_seed fill in the options below.")
@click.option("--real", is_flag=True, help="Score the real test videos as samples: the 'real-data' ceiling row.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the results JSON here.")
@click.option("--model", default=None, help="Model name for the results (default: the file's 'model' attr or stem).")
@click.option("--train-seed", type=click.IntRange(min=0), default=None,
              help="Seed the model was trained with; the leaderboard keeps one row per seed and averages them.")
@click.option("--eval-seed", type=click.IntRange(min=0), default=None,
              help="Seed the samples were generated with (default: the file's attr, else the protocol's).")
@click.option("--judge", "judge_path", type=click.Path(dir_okay=False), default=None,
              help="Judge file (required for kth4; default: the shipped judge of the dataset's family).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def eval_cmd(dataset, samples, real, out, model, train_seed, eval_seed, judge_path, quiet):
    """Score generated videos under the frozen protocol (caption accuracy, temporal consistency,
    Fréchet distances in judge space, motion check). Metrics that need the model's discriminator
    (GAM) are skipped here, and the results say so; use `t2vbench.evaluate()` for those.

    \b
    Examples:
      t2vbench eval --samples samples.h5 --dataset data/smnist4 --out results/mymodel-s0.json
      t2vbench eval --real --dataset data/smnist4 --out results/real-data.json
    """
    if bool(samples) == bool(real):
        raise UserError("give exactly one of --samples FILE.h5 or --real")
    if real and (model or train_seed is not None or eval_seed is not None):
        raise UserError("--real scores the real test videos (model 'real-data'); --model, --train-seed and "
                        "--eval-seed go with --samples")
    from t2vbench.eval.api import evaluate_file, evaluate_real

    if real:
        res = evaluate_real(dataset, judge=judge_path, out=out, progress=not quiet)
    else:
        if not Path(samples).exists():
            raise UserError(f"{samples} does not exist")
        res = evaluate_file(samples, dataset, model=model, judge=judge_path, out=out, eval_seed=eval_seed,
                            train_seed=train_seed, progress=not quiet)
    click.echo(f"{res['model']} on {res['dataset']} (protocol {res['protocol_version']}, "
               f"{res['n_samples']} videos, {res['wall_time_s']:.1f} s):")
    for k, v in res["metrics"].items():
        click.echo(f"  {k:28s} {v:.4f}")
    for k, why in res["skipped"].items():
        click.echo(f"  {k:28s} skipped: {why}")
    for w in res["info"].get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    if out:
        click.echo(f"wrote {out}")


@click.command("leaderboard")
@click.option("--results", "results", type=click.Path(), multiple=True,
              help="Results folder(s) or JSON file(s) (default: ./results).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default="leaderboard.csv", show_default=True,
              help="Where to write the long-format CSV.")
@click.option("--format", "fmt", type=click.Choice(["md", "csv"]), default="md", show_default=True,
              help="What to print: the Markdown table (mean ± std over seeds) or the CSV.")
def leaderboard(results, csv_path, fmt):
    """Build leaderboard.csv (one row per model, dataset, metric and seed) from results JSON and print
    the Markdown table (or the CSV). A damaged results file (cut short, a non-finite metric, a rate
    outside [0, 1]) is skipped with a warning naming it; a re-run's older result is replaced, also named;
    results that departed from the protocol get tables of their own."""
    from t2vbench.eval import leaderboard as lb

    sources = list(results) or ["results"]
    rows = lb.build(sources, None)
    if not rows:  # checked before writing, so an empty folder never overwrites a good CSV
        raise UserError(f"no usable results JSON in {', '.join(sources)} (any skipped are named above); write some "
                        "with `t2vbench eval ... --out results/NAME.json`")
    lb.write_csv(rows, csv_path)
    sys.stdout.write(lb.render_markdown(rows) if fmt == "md" else lb.to_csv(rows))
    click.echo(f"wrote {csv_path} ({len(rows)} rows)", err=True)
