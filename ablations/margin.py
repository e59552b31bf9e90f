"""No margin vs the paper's small vs large margin in the reward-model ranking loss
(Llama 2 sec. 3.2.2, Table 28, Figure 27): helpfulness RMs on the same SFT checkpoint."""

from ablations.spec import POSTTRAIN_QUICK, Ablation, Base, Variant, accuracy_by_rating

ABLATION = Ablation(
    name="margin",
    hypothesis=("A margin m(rating) in -log sigmoid(r_c - r_r - m) raises accuracy on the clearly separable pairs "
                "(significantly better, better) and leaves the near-ties alone; the large margin widens the reward "
                "gaps of strong pairs and spreads the reward distribution."),
    paper="Llama 2 Table 28 (accuracy per rating, helpfulness RM, no / small / large margin), Figure 27",
    base_preset="tiny-cpu",
    # The paper initialises its RMs from the pretrained checkpoint (sec. 3.2.2)
    bases={"default": Base(until="pretrain", note="pretrained once per seed; every RM starts from it")},
    variants=(
        Variant("none", {"rm.kind": "helpfulness", "rm.margin": "none"}, stage="reward", note="m = 0"),
        Variant("small", {"rm.kind": "helpfulness", "rm.margin": "small"}, stage="reward",
                note="m = 1, 2/3, 1/3, 0 for significantly / better / slightly / negligibly better"),
        Variant("large", {"rm.kind": "helpfulness", "rm.margin": "large"}, stage="reward", note="m = 3, 2, 1, 0"),
    ),
    baseline="none",
    seeds=(0, 1),
    probes=(),
    # tiny-cpu: 300 pretraining steps (half the preset's) so that 2 seeds x (base + 3 RMs) fit ~15 minutes
    quick={"tiny-cpu": POSTTRAIN_QUICK},
    headline=(*accuracy_by_rating("rm_helpfulness/helpfulness_test"),
              ("reward_gap/helpfulness_test", "mean/significantly_better"),
              ("reward_gap/helpfulness_test", "mean/negligibly_better"),
              ("reward_gap/helpfulness_test", "score_std")),
    reference={"none": {"sig. better": 79.1, "better": 66.9, "slightly better": 59.8, "negligibly/unsure": 54.5,
                        "avg": 62.5},
               "small": {"sig. better": 80.4, "better": 67.3, "slightly better": 60.4, "negligibly/unsure": 55.0,
                         "avg": 63.0},
               "large": {"sig. better": 80.7, "better": 67.5, "slightly better": 60.5, "negligibly/unsure": 54.3,
                         "avg": 62.9}},
    notes=("Paper: 70B helpfulness RMs, Meta Helpful test set; accuracy in %. Here: tiny-cpu RMs on the generated "
           "world's helpfulness pairs (held-out 20%), each seed its own world."),
)
