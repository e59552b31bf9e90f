"""A generated world with known answers: the suite's default data, no download needed.

    cfg = world_config("tiny", seed=0)          # size knobs (WorldConfig, frozen)
    world = build_world(cfg)                    # people, places, organisations, items
    docs = pretraining_documents(world)         # plain-text corpus
    paths = write_benchmarks(world, out_dir)    # mmlu/, mmlu_heldout/, gsm8k/, squad/, scrolls/<task>/

Same seed, byte-identical output. Evaluation questions never occur verbatim in the
corpus; the facts they ask about do (paraphrased), except for the held-out people
(``mmlu_heldout``), whose score should stay at chance. Post-training data and the
oracle live in ``harness.data.posttrain``; real-data loaders in ``harness.data.realdata``.
"""

from .config import PERSON_ATTRIBUTES, WorldConfig, replace, world_config
from .documents import corpus_parts, corpus_stats, long_documents, pretraining_documents, train_problems
from .entities import Item, Org, Person, Place, World, build_world
from .tasks import write_benchmarks
from .text import approx_token_count

__all__ = [
    "PERSON_ATTRIBUTES", "WorldConfig", "world_config", "replace", "World", "Person", "Place",
    "Org", "Item", "build_world", "pretraining_documents", "corpus_parts", "corpus_stats",
    "long_documents", "train_problems",
    "write_benchmarks", "approx_token_count",
]
