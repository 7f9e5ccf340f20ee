"""tfidf-logreg: TF-IDF of word 1-2 grams + logistic regression, C chosen on validation. No pre-trained model at all.

Design: a backbone swap. ``backbone()`` returns ``TfidfFeatures``, an ``nn.Module`` that meets the backbone protocol
(``encode`` -> terms, ``collate`` -> padded term ids, ``forward`` -> (B, vocabulary) tf-idf features), so training,
validation, evaluate, predict, compare and save/load all run through the one engine and the ordinary
``TaskModel``. Its vocabulary and idf are fitted on the training rows only, inside the phase's closed-form
solver (the engine hands it the training rows, never the test split); the solver then widens the linear head to
the vocabulary and fits scikit-learn's ``LogisticRegression`` on the sparse tf-idf matrix for each C (dense
features of a 100k-term vocabulary would not fit in memory at n=all). Nothing is pickled: the vocabulary is
saved as JSON (``tfidf.json``), the idf and the head as tensors in ``weights.safetensors``. The backbone is not
pre-trained (``uses_pretrained = False``): there is no feature cache, and the run saves its whole "backbone" (the
idf), as a from-scratch run does. The ``--backbone`` given is still loaded (and part of the run key) but unused.

The features equal scikit-learn's ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)``:
tf = 1 + ln(count), idf = ln((1 + n) / (1 + df)) + 1, each row L2-normalised; unseen terms are dropped.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from headstart.atomic import write_atomic
from headstart.errors import ConfigError, StoreError
from headstart.strategies.base import Budget, Phase, Problem, Strategy, head_group
from headstart.strategies.classical import LinearOptions, solve_linear
from headstart.strategies.registry import register

VOCABULARY_FILE = "tfidf.json"
NGRAMS = (1, 2)  # word unigrams and bigrams, scikit-learn's token pattern (words of 2+ characters), lower-cased


def _terms_as_given(terms: list[str]) -> list[str]:
    """The analyzer scikit-learn is given at fit time: inputs are already terms (``TfidfFeatures.encode``)."""
    return terms


class TfidfFeatures(nn.Module):
    """TF-IDF features of a text as a backbone: (B, vocabulary) rows, L2-normalised.

    ``encode`` needs no vocabulary (a text's terms), so the run encodes every row once before the solver fits one.
    Before fitting, the features are one all-zero column (a zero-width head would warn at initialisation).
    """

    modality = "text"

    def __init__(self) -> None:
        super().__init__()
        self.name = "tfidf"
        self.vocabulary: list[str] = []
        self.column: dict[str, int] = {}
        self.register_buffer("idf", torch.zeros(1))

    @property
    def dim(self) -> int:
        return max(1, len(self.vocabulary))

    def blocks(self) -> list[nn.Module]:
        return []

    def encode(self, inputs: list[Any]) -> list[list[str]]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        analyze = TfidfVectorizer(ngram_range=NGRAMS).build_analyzer()
        return [analyze(str(text)) for text in inputs]

    def collate(self, encoded: list[list[str]]) -> dict[str, torch.Tensor]:
        ids = [[self.column[t] for t in terms if t in self.column] for terms in encoded]
        width = max((len(x) for x in ids), default=0)
        batch = torch.zeros((len(ids), width), dtype=torch.long)
        mask = torch.zeros((len(ids), width))
        for row, x in enumerate(ids):
            batch[row, : len(x)] = torch.as_tensor(x, dtype=torch.long)
            mask[row, : len(x)] = 1.0
        return {"ids": batch, "mask": mask}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        counts = torch.zeros(len(batch["ids"]), self.dim, device=self.idf.device).scatter_add_(1, batch["ids"], batch["mask"].float())
        tf = torch.where(counts > 0, counts.clamp_min(1).log() + 1, 0.0)
        return F.normalize(tf * self.idf, dim=-1)

    def fit(self, documents: list[list[str]]) -> Any:
        """Fit vocabulary and idf on ``documents`` (terms per text); returns their (N, V) sparse float64 tf-idf."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(analyzer=_terms_as_given, sublinear_tf=True, min_df=1)
        try:
            matrix = vectorizer.fit_transform(documents)
        except ValueError:  # scikit-learn: "empty vocabulary"
            raise ConfigError("tfidf-logreg found no words (2+ letters or digits) in the training texts; "
                              "use embed-logreg or linear-probe on this data") from None
        self.set_vocabulary(vectorizer.get_feature_names_out().tolist(), torch.as_tensor(vectorizer.idf_, dtype=torch.float32))
        return matrix

    def set_vocabulary(self, terms: list[str], idf: torch.Tensor) -> None:
        self.vocabulary = list(terms)
        self.column = {t: i for i, t in enumerate(self.vocabulary)}
        self.idf = idf.to(self.idf.device)

    def fresh(self, seed: int) -> "TfidfFeatures":
        return TfidfFeatures()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": "scikit-learn TfidfVectorizer", "ngram_range": list(NGRAMS), "sublinear_tf": True,
                "pretrained": False, "vocabulary": len(self.vocabulary)}


def solve(model: nn.Module, problem: Problem, *, options: LinearOptions) -> dict[str, Any]:
    """Fit the vocabulary on the training rows, widen the head to it, then choose C as embed-logreg does."""
    X = model.backbone.fit(problem.train_inputs)
    head = model.head
    # Resized in place: the engine's record of what trained (and its best-weights snapshot) holds these parameters.
    head.weight.data = torch.zeros(head.out_features, X.shape[1], device=head.weight.device)
    head.in_features = X.shape[1]
    return solve_linear(model, problem, X, options)


class TfidfLogreg(Strategy):
    name = "tfidf-logreg"
    leaves_backbone = True
    solved = True
    description = "no pre-trained model: TF-IDF of word 1-2 grams + scikit-learn logistic regression, C chosen on validation"
    Options = LinearOptions
    uses_pretrained = False
    own_features = "TF-IDF features"
    modalities = ("text",)
    unexportable_why = ("its features are TF-IDF counts, not a transformers encoder, which every --format writes; serve it "
                        "with headstart predict")

    def backbone(self, pretrained, *, seed):
        return TfidfFeatures()

    def attach(self, model, options, *, precision: str, seed: int = 0, directory: Any = None) -> None:
        """For loading: the saved vocabulary, and a head as wide (idf and head weights come from weights.safetensors)."""
        if directory is None:
            return
        path = Path(directory) / VOCABULARY_FILE
        try:
            terms = json.loads(path.read_text(encoding="utf-8"))["vocabulary"]
        except (OSError, ValueError, KeyError, TypeError):
            raise StoreError(f"{str(path)!r} is missing or damaged (the tf-idf vocabulary); train the run again") from None
        model.backbone.set_vocabulary(terms, torch.zeros(len(terms)))
        model.head = nn.Linear(model.backbone.dim, model.head.out_features).to(model.head.weight.device)

    def save_files(self, model, out: Path) -> None:
        payload = {"format": "headstart-tfidf", "ngram_range": list(NGRAMS), "sublinear_tf": True,
                   "vocabulary": model.backbone.vocabulary}
        write_atomic(out / VOCABULARY_FILE, json.dumps(payload, ensure_ascii=False).encode("utf-8"))

    def plan(self, model, options: LinearOptions, cfg, budget: Budget) -> list[Phase]:
        return [Phase("tfidf-logreg", [head_group(model, cfg)], 0, solve=partial(solve, options=options))]


register(TfidfLogreg())
