"""Reward-model accuracy against model size and data size (Llama 2 Figure 6): helpfulness
RMs of two sizes, each trained on a quarter, a half and all of the preference data."""

from ablations.spec import POSTTRAIN_QUICK, Ablation, Base, Variant, accuracy_by_rating

SIZES = {
    # a smaller model of the preset: half width, half depth (about 1/8 of the parameters)
    "small": Base(until="pretrain", overrides={"model.dim": "96", "model.n_layers": "2", "model.n_heads": "3"},
                  per_preset={"small-gpu": {"model.dim": "384", "model.n_layers": "6", "model.n_heads": "6"},
                              "llama2-7b": {"model.dim": "2048", "model.n_layers": "16", "model.n_heads": "16"},
                              "llama2-13b": {"model.dim": "4096", "model.n_layers": "32", "model.n_heads": "32"},
                              "llama2-70b": {"model.dim": "5120", "model.n_layers": "40", "model.n_heads": "40",
                                             "model.attention": "mha"}},
                  note="half width and depth of the preset (llama2-13b/70b: the 7B/13B shapes)"),
    "base": Base(until="pretrain", note="the preset's model"),
}
FRACTIONS = (("f25", "0.25"), ("f50", "0.5"), ("f100", "1.0"))

ABLATION = Ablation(
    name="rm_scaling",
    hypothesis=("Reward-model accuracy rises with both model size and the amount of preference data, and has not "
                "plateaued at the largest data size; the gain is largest on the clearly separable ratings."),
    paper="Llama 2 Figure 6 (RM accuracy vs data batches, 7B/13B/70B), Table 8 (accuracy per rating)",
    base_preset="tiny-cpu",
    bases=SIZES,
    variants=tuple(
        Variant(f"{size}_{tag}", {"rm.kind": "helpfulness", "rm.data_fraction": frac}, stage="reward", base=size,
                note=f"{SIZES[size].note}; {float(frac):.0%} of the training pairs")
        for size in SIZES for tag, frac in FRACTIONS
    ),
    baseline="base_f100",
    seeds=(0, 1),
    probes=(),
    quick={"tiny-cpu": POSTTRAIN_QUICK},
    headline=(*accuracy_by_rating("rm_helpfulness/helpfulness_test"), ("rm_helpfulness/safety_test", "acc")),
    reference={"helpfulness RM / Meta Helpful (Table 8, 70B)": {"sig. better": 80.7, "better": 67.5,
                                                                 "slightly better": 60.9, "negligibly/unsure": 54.7,
                                                                 "avg": 63.2}},
    notes=("Paper (Figure 6, a trend): accuracy rises with data and with RM size (7B < 13B < 70B) and has not "
           "saturated. Here: each size has its own pretrained base per seed (the paper starts RMs from the "
           "pretrained checkpoint); smaller data fractions are subsets of larger ones; the held-out pairs are the "
           "same for every fraction."),
)
