"""Size knobs of the generated world, as a frozen dataclass with named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Attributes a person can have; the config picks which ones the world states and asks.
PERSON_ATTRIBUTES = ("city", "job", "employer", "birth_year", "colour")


@dataclass(frozen=True)
class WorldConfig:
    """Everything that decides the generated world and its data; same config, same bytes.

    Fact learning at small scale is a sharp phase transition in (people x attributes),
    so ``n_people`` and ``person_attributes`` are the calibration knobs (see
    ``world_config`` and the DESIGN calibration table).
    """

    seed: int = 0
    # --- the world itself -------------------------------------------------------------
    n_people: int = 300
    n_places: int = 40
    n_orgs: int = 30
    person_attributes: tuple[str, ...] = ("city", "job", "employer", "birth_year")
    # Fraction of people whose facts never reach the corpus: the "guessing" control.
    heldout_fraction: float = 0.1
    # --- pretraining corpus -----------------------------------------------------------
    paraphrases_per_fact: int = 4  # each stated fact appears in this many templates
    n_narratives: int = 300  # short stories that restate (known) facts in passing
    n_train_problems: int = 400  # GSM8K-shaped train split, also worked into the corpus
    n_long_docs: int = 12  # several-thousand-token documents with Q/A at the end
    long_doc_tokens: int = 2500  # approximate length of each long document
    # Where long pretraining documents place their facts, in tokens before the question.
    long_doc_fact_distance: tuple[int, int] = (20, 2000)
    # Recall practice: documents of recall_doc_tokens (uniform) stating a local fact (and two
    # of the same kind about others) anywhere in them, asked about at the end. What a model
    # can learn from them depends on its window: the context ablation's mechanism. Off on
    # tiny: 300 of them did not teach a tiny-cpu model in-context recall in 300 steps (near
    # and far multiple choice at chance, BENCHMARKS.md) and they halve the facts' share.
    n_recall_docs: int = 0
    recall_doc_tokens: tuple[int, int] = (60, 480)
    # --- benchmarks -------------------------------------------------------------------
    n_test_problems: int = 250
    n_squad_paragraphs: int = 120
    n_scrolls_per_split: int = 100
    scrolls_doc_tokens: int = 700  # longer than both windows of the context ablation
    # Distance (tokens between the fact and the question) per SCROLLS-shaped task:
    # "far" needs more than a 256-token window but fits in 512; "near" fits in both.
    scrolls_tasks: tuple[tuple[str, int, int], ...] = (
        ("world_far", 300, 450),
        ("world_near", 40, 200),
    )
    # --- post-training ----------------------------------------------------------------
    n_sft_per_kind: int = 300  # fact, math, creative and unsafe prompts each
    n_pref_prompts: int = 400  # prompts per preference dimension
    # The simulated annotator perceives each response's oracle score plus N(0, sd) noise and
    # labels chosen and rating from the perceived scores, so near-ties are often mislabelled
    # and clear differences almost never: the reason the paper gives for RM accuracy rising
    # with rating strength (sec. 3.2.2, Table 8: similar responses are hard to tell apart).
    annotator_noise: float = 0.15
    # This fraction of SFT demonstrations is a harmless but weaker form (unsure, hedged,
    # terse, a bare refusal or a deflection; `posttrain._flawed_response`), as human
    # demonstrations are uneven. The paper's case for RLHF over SFT (sec. 5.1) is that the RM
    # pushes the policy away from such a weak tail. Off by default: at 0.3 on tiny-cpu the
    # RMs rank the forms right, yet rejection sampling lowered the oracle's scores, because
    # the tiny policy's samples are mostly garbled and the RMs reward garbled refusals
    # (BENCHMARKS.md, "Flawed demonstrations").
    sft_flawed_fraction: float = 0.0

    def __post_init__(self):
        # Fail early with the field's name, as the config habit in DESIGN.md asks.
        for name in ("n_people", "n_places", "n_orgs", "paraphrases_per_fact"):
            if getattr(self, name) < 1:
                raise ValueError(f"WorldConfig.{name} must be >= 1, got {getattr(self, name)}")
        bad = [a for a in self.person_attributes if a not in PERSON_ATTRIBUTES]
        if bad or not self.person_attributes:
            raise ValueError(
                f"WorldConfig.person_attributes must be a non-empty subset of "
                f"{PERSON_ATTRIBUTES}, got {self.person_attributes}")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError(f"WorldConfig.heldout_fraction must be in [0, 1), got {self.heldout_fraction}")
        if self.paraphrases_per_fact > 6:
            raise ValueError("WorldConfig.paraphrases_per_fact must be <= 6 (templates per fact)")
        # 5 dev questions per subject come from people (places, orgs) not in that test set.
        if self.n_places < 8 or self.n_orgs < 8:
            raise ValueError("WorldConfig needs n_places >= 8 and n_orgs >= 8 (dev pool + choices)")
        if not 0.0 <= self.sft_flawed_fraction < 1.0:
            raise ValueError(f"WorldConfig.sft_flawed_fraction must be in [0, 1), got {self.sft_flawed_fraction}")
        if not 0.0 <= self.annotator_noise <= 1.0:
            raise ValueError(f"WorldConfig.annotator_noise must be in [0, 1], got {self.annotator_noise}")
        for task, lo, hi in self.scrolls_tasks:
            if not 0 <= lo <= hi < self.scrolls_doc_tokens:
                raise ValueError(
                    f"WorldConfig.scrolls_tasks[{task!r}]: need 0 <= {lo} <= {hi} < "
                    f"scrolls_doc_tokens={self.scrolls_doc_tokens}")


def world_config(size: str = "tiny", seed: int = 0) -> WorldConfig:
    """Named world sizes.

    tiny: ~400 people x 4 attributes x 4 paraphrases. DESIGN.md measured a 2M-param
      Llama after 3 CPU minutes at 100% on 200 people x 3 attributes, 42-90% on 600 and
      chance on 2000; 400 x 4 (1,600 facts, 1,440 stated) sits between the 600 and 1,800
      fact points, i.e. inside the transition, allowing for the corpus also holding word
      problems and long documents. A first guess for the lead to measure and move.
    small: for a GPU-sized model, five attributes and ~5x the people.
    micro: for unit tests only; generates in well under a second.
    """
    if size == "tiny":
        return WorldConfig(seed=seed)
    if size == "small":
        return WorldConfig(
            seed=seed, n_people=2000, n_places=80, n_orgs=60,
            person_attributes=("city", "job", "employer", "birth_year", "colour"),
            n_narratives=1500, n_train_problems=5000, n_long_docs=100,
            long_doc_tokens=4000, n_test_problems=500, n_squad_paragraphs=300,
            n_scrolls_per_split=200, scrolls_doc_tokens=1400,
            scrolls_tasks=(("world_far", 600, 900), ("world_near", 40, 400)),
            n_sft_per_kind=1000, n_pref_prompts=1500, n_recall_docs=3000, recall_doc_tokens=(100, 1900))
    if size == "micro":
        return WorldConfig(
            seed=seed, n_people=60, n_places=12, n_orgs=10, n_narratives=20,
            n_train_problems=40, n_long_docs=3, long_doc_tokens=1200,
            long_doc_fact_distance=(20, 1000), n_test_problems=20,
            n_squad_paragraphs=10, n_scrolls_per_split=8, n_sft_per_kind=10,
            n_pref_prompts=20, n_recall_docs=10)
    raise ValueError(f"unknown world size {size!r}; choose 'micro', 'tiny' or 'small'")


def replace(cfg: WorldConfig, **changes) -> WorldConfig:
    """``dataclasses.replace`` re-exported so variants read ``replace(base, n_people=600)``."""
    return dataclasses.replace(cfg, **changes)
