"""Sampling temperature vs diversity (Llama 2 Figure 21): the SFT, rejection-sampling and PPO
policies of one pipeline per seed, sampled at temperatures 0.1-1.5 on factual and creative
prompts; Self-BLEU among a prompt's samples and the oracle's task accuracy."""

from ablations.spec import Ablation, Base, Variant

TEMPERATURES = ("0.1", "0.4", "0.7", "1.0", "1.2", "1.5")

ABLATION = Ablation(
    name="temperature",
    hypothesis=("Higher temperature makes samples more diverse (lower Self-BLEU) on creative prompts, while RLHF "
                "keeps factual answers consistent (high Self-BLEU) across temperatures; accuracy on factual "
                "prompts falls as temperature rises."),
    paper="Llama 2 Figure 21 (Self-BLEU vs temperature, factual vs creative prompts, SFT and RLHF versions)",
    base_preset="tiny-cpu",
    bases={"default": Base(until="ppo", note="pretrain -> SFT -> RMs -> rejection sampling -> PPO, once per seed")},
    variants=tuple(Variant(f"t{t}", {"sample.temperature": t}, stage="sample", note=f"temperature {t}")
                   for t in TEMPERATURES),
    baseline="t1.0",
    seeds=(0, 1),
    probes=(),
    quick={"tiny-cpu": {"run.max_steps": "300", "run.checkpoint_every": "100", "run.eval_every": "300",
                        "rs.rounds": "1", "rs.prompts": "128", "ppo.iterations": "6"}},
    # prompts per kind, samples per prompt (paper: 10 samples of each of 25 prompts per kind)
    sample_settings={"tiny-cpu": {"prompts": 24, "samples": 4, "max_new_tokens": 48},
                     "small-gpu": {"prompts": 25, "samples": 10, "max_new_tokens": 128}},
    headline=tuple((f"{kind}@{policy}", metric) for metric in ("self_bleu", "helpfulness")
                   for policy in ("sft", "ppo") for kind in ("factual", "creative")),
    reference={"RLHF-v3 (Fig. 21, read off the plot)": {"factual Self-BLEU at T=1.0": 0.90,
                                                        "creative Self-BLEU at T=1.0": 0.55},
               "SFT": {"factual Self-BLEU at T=1.0": 0.70, "creative Self-BLEU at T=1.0": 0.50}},
    notes=("Paper: Self-BLEU on 0-1 (here 0-100, sacrebleu), 10 samples per prompt; RLHF makes factual prompts "
           "near-deterministic while creative prompts keep their diversity. Values read off the plot are "
           "approximate."),
)
