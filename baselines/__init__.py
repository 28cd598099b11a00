"""Baseline text-to-video models, installed as `t2vbench.baselines`: one module per model.

`MODELS` names every trainable model: name -> "module:attr" of its implementation. Each name has its
protocol as data in `configs/<name>.json` (defaults plus `smoke` / `quick` / `paper` overrides);
ablations are configs that inherit another model's config, not copies of code. Importing this
package is cheap (no torch).
"""

MODELS = {
    "ircgan": "t2vbench.baselines.ircgan:IRCGAN",
    "rcgan-c": "t2vbench.baselines.ircgan:IRCGAN",  # IRC-GAN without mutual-information introspection
    "tgans-c": "t2vbench.baselines.tgansc:TGANsC",  # TGANs-C-A (temporal coherence adversarial loss)
    "tgans-c-c": "t2vbench.baselines.tgansc:TGANsC",  # TGANs-C-C (temporal coherence constraint loss)
    "tgans-info": "t2vbench.baselines.tgansc:TGANsC",  # TGANs-C + Q heads (IRC-GAN's ablation)
}
