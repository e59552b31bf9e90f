"""Short vs long context at the paper's 2:1 ratio (Llama 2 Tables 16-17), scaled to the preset:
on tiny-cpu 256 vs 512 tokens, at equal tokens per step (the long run halves its batch)."""

from ablations.spec import Ablation, Variant

LLAMA2 = ("llama2-7b", "llama2-13b", "llama2-70b")

ABLATION = Ablation(
    name="context",
    hypothesis=("Doubling the context helps long-input tasks sharply (facts 300-450 tokens back are out of a "
                "256-token window) and leaves short-input and general tasks flat."),
    paper="Llama 2 Table 16 (long-context tasks) and Table 17 (general tasks), 2k vs 4k",
    base_preset="tiny-cpu",
    variants=(
        Variant("short", {"data.seq_len": "256", "model.max_seq_len": "256"}, note="half the context",
                per_preset={"small-gpu": {"data.seq_len": "1024", "model.max_seq_len": "1024"},
                            **{p: {"data.seq_len": "2048", "model.max_seq_len": "2048"} for p in LLAMA2}}),
        Variant("long", {"data.seq_len": "512", "model.max_seq_len": "512", "run.micro_batch_size": "8",
                         "run.global_batch_size": "8"}, note="the full context, half the batch: same tokens per step",
                per_preset={"small-gpu": {"data.seq_len": "2048", "model.max_seq_len": "2048",
                                          "run.global_batch_size": "32", "run.micro_batch_size": "4"},
                            **{p: {"data.seq_len": "4096", "model.max_seq_len": "4096", "run.global_batch_size": "512",
                                "run.micro_batch_size": "1"}
                               for p in LLAMA2}}),
    ),
    baseline="short",
    seeds=(0, 1, 2),
    # The SCROLLS-shaped questions twice: generated (F1, like NarrativeQA) and multiple choice by
    # log-likelihood (like QuALITY), which credits retrieval before exact generation is possible.
    tasks=("scrolls_world_near", "scrolls_world_far", "scrolls_world_near_mc", "scrolls_world_far_mc", "squad", "mmlu"),
    limit=40,
    # Answers are one line; lm-eval's default 256-token generation budget would leave a
    # 256-token model no room for the document (SCROLLS cuts the document to context - budget).
    max_gen_toks=32,
    task_options={"mmlu": {"limit": 10}, "squad": {"limit": 20}},
    probes=("validation",),
    quick={"tiny-cpu": {"run.max_steps": "200", "run.checkpoint_every": "100", "run.eval_every": "200"}},
    headline=(("scrolls_world_far_mc", "acc"), ("scrolls_world_near_mc", "acc"), ("scrolls_world_far", "f1"),
              ("scrolls_world_near", "f1"), ("squad", "f1"), ("mmlu", "acc"), ("validation", "loss")),
    reference={"short": {"NarrativeQA F1": 0.21, "Qasper F1": 0.71, "QuALITY acc": 26.1, "SQuAD EM": 57.23,
                         "HellaSwag": 75.1},
               "long": {"NarrativeQA F1": 17.26, "Qasper F1": 18.52, "QuALITY acc": 29.6, "SQuAD EM": 57.99,
                        "HellaSwag": 74.8}},
    notes="Paper: 2k vs 4k context, 150B tokens each. Validation loss is on each variant's own window length.",
)
