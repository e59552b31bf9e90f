"""An ablation is a record: name, hypothesis, base preset, overrides per variant, seeds,
what to score, and the paper's reference values. The sweep runner (`ablations.runner`) does
the rest; adding an ablation means one short module that builds one `Ablation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class AblationError(ValueError):
    """Bad input to an ablation (unknown ablation, variant or preset; a mixed results store).
    The message names the valid choices or the difference."""


STAGES = ("pretrain", "uptrain", "reward", "sample")
# The post-training ablations' laptop schedule: their base pretrains 300 steps (half the preset's).
POSTTRAIN_QUICK = {"run.max_steps": "300", "run.checkpoint_every": "100", "run.eval_every": "300"}


def accuracy_by_rating(task: str) -> tuple[tuple[str, str], ...]:
    """Headline rows of a reward-model test set: accuracy overall and per rating."""
    from harness.data.posttrain import RATINGS  # torch-free, like this module

    return ((task, "acc"), *((task, f"acc/{r}") for r in RATINGS))


@dataclass(frozen=True)
class Base:
    """Checkpoints shared by the variants that name it: `python -m harness pipeline --until
    <until>` once per seed (pretrain -> SFT -> ...), with `overrides` (model size, say) on top
    of the preset. Post-training variants train their own stage on it, or only sample from it."""

    until: str = "sft"
    overrides: dict[str, str] = field(default_factory=dict)
    per_preset: dict[str, dict[str, str]] = field(default_factory=dict)
    note: str = ""

    def overrides_for(self, preset: str) -> dict[str, str]:
        return {**self.overrides, **self.per_preset.get(preset, {})}


@dataclass(frozen=True)
class Variant:
    """One arm of an ablation: config overrides over the base preset and the stage that trains it.

    stage "pretrain" trains from scratch (`python -m harness pretrain`). Stage "uptrain"
    converts the finished checkpoint of variant `init_from` (same seed) and continues
    training for `uptrain_fraction` of the base schedule (`python -m ablations.uptrain`).
    Stage "reward" trains a reward model on the last checkpoint of the ablation's base
    `base` (`python -m harness reward`; `overrides` are its `rm.*` options). Stage "sample"
    trains nothing: it samples the base's policies (`overrides`: `sample.*` options).
    """

    name: str
    overrides: dict[str, str] = field(default_factory=dict)
    stage: str = "pretrain"
    init_from: str | None = None
    uptrain_fraction: float = 0.0
    base: str = "default"  # reward / sample: which of the ablation's `bases`
    note: str = ""
    # preset -> overrides replacing `overrides` on that preset (a variant scaled to the preset)
    per_preset: dict[str, dict[str, str]] = field(default_factory=dict)

    def overrides_for(self, preset: str) -> dict[str, str]:
        return {**self.overrides, **self.per_preset.get(preset, {})}


@dataclass(frozen=True)
class Ablation:
    name: str
    hypothesis: str
    paper: str  # which table / figure it mirrors
    base_preset: str
    variants: tuple[Variant, ...]
    baseline: str  # variant the paired differences are taken against
    seeds: tuple[int, ...] = (0, 1)
    tasks: tuple[str, ...] = ()  # lm-eval tasks (evals.evaluate)
    tasks_by_preset: dict[str, tuple[str, ...]] = field(default_factory=dict)  # preset -> tasks instead
    limit: int | None = 20  # examples per lm-eval task on the tiny preset (None on others: all)
    max_gen_toks: int = 256  # lm-eval generation budget (also cut from SCROLLS documents)
    # per-task {"limit": n, "max_gen_toks": m} on the tiny preset (generation is the slow part on a CPU)
    task_options: dict[str, dict[str, int]] = field(default_factory=dict)
    probes: tuple[str, ...] = ("validation",)  # suite measures: "validation", "inference"
    # preset -> overrides that shorten the schedule to fit a laptop budget (applied to every variant)
    quick: dict[str, dict[str, str]] = field(default_factory=dict)
    # probe settings (e.g. inference batch sizes / context lengths), preset -> settings
    probe_settings: dict[str, dict] = field(default_factory=dict)
    headline: tuple[tuple[str, str], ...] = ()  # (task, metric) pairs the summary leads with
    reference: dict[str, dict[str, float]] = field(default_factory=dict)  # paper: variant -> {metric: value}
    notes: str = ""
    bases: dict[str, Base] = field(default_factory=dict)  # reward / sample variants: shared upstream checkpoints
    # sample variants: preset -> settings of `ablations.score.temperature_rows` (prompts, samples per prompt...)
    sample_settings: dict[str, dict] = field(default_factory=dict)

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise AblationError(f"unknown variant {name!r} of ablation {self.name!r}; "
                            f"valid variants: {', '.join(v.name for v in self.variants)}")

    def select(self, names: list[str] | None) -> tuple[Variant, ...]:
        """The variants to run, in declaration order; a variant's `init_from` comes along."""
        if not names:
            return self.variants
        wanted = {self.variant(n).name for n in names}
        for n in list(wanted):
            src = self.variant(n).init_from
            if src:
                wanted.add(src)
        return tuple(v for v in self.variants if v.name in wanted)
