"""Sampling temperature vs diversity (Llama 2 Figure 21): the SFT, rejection-sampling and PPO
policies of one pipeline per seed, sampled at temperatures 0.1-1.5 on factual and creative
prompts; Self-BLEU among a prompt's samples and the oracle's task accuracy."""

from ablations.spec import POSTTRAIN_QUICK, Ablation, Base, Variant

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
    quick={"tiny-cpu": {**POSTTRAIN_QUICK, "rs.rounds": "1", "rs.prompts": "128", "ppo.iterations": "6",
                        "ppo.rollout_batch": "64", "ppo.minibatch": "16"}},  # the sampling study needs no strong PPO
    # the paper's protocol: 10 factual and 10 creative prompts, 25 samples each (fewer samples on tiny-cpu)
    sample_settings={"tiny-cpu": {"prompts": 10, "samples": 16, "max_new_tokens": 48},
                     **{p: {"prompts": 10, "samples": 25, "max_new_tokens": 128}
                        for p in ("small-gpu", "llama2-7b", "llama2-13b", "llama2-70b")}},
    headline=tuple((f"{kind}@{policy}", metric) for metric in ("self_bleu", "helpfulness")
                   for policy in ("sft", "ppo") for kind in ("factual", "creative")),
    notes=("Paper (Figure 21, a trend): RLHF removes diversity on factual prompts (flat, high Self-BLEU across "
           "temperatures) and keeps it on creative prompts (Self-BLEU falls with temperature, as for SFT). "
           "Self-BLEU here is sacrebleu's, 0-100."),
)
