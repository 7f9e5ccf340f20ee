"""Every bad input of issue 7 through the real command line: exit 2, one ``error:`` line naming the value, no traceback.

Each ``Case`` builds its files in a scratch directory and returns the ``headstart`` arguments; the same cases
generate the table in docs/RELIABILITY.md (``python scripts/bad_inputs_table.py``), so the doc shows real output.
Commands that need a backbone use the tiny one from conftest (``--backbone tiny``); a trained run comes from it too.
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from conftest import make_toy, tiny_backbone, tiny_bert
from headstart.store import SCHEMA_VERSION

TRAIN = ["train", "--quiet"]


@dataclass(frozen=True)
class Case:
    """One bad input: ``args(files)`` writes what it needs and returns the arguments after ``headstart``."""

    item: str
    args: Callable[["Files"], list[str]]
    expect: tuple[str, ...]  # fragments of the error line (the value it names and the fix)
    stdin: str | bytes = ""
    code: int = 2
    note: str = ""  # a "note:" line expected on stderr before the outcome (rows dropped)


class Files:
    """Scratch files for the cases, written on first use under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._run: Path | None = None
        self._lora: Path | None = None

    def path(self, name: str) -> Path:
        return self.root / name

    def csv(self, name: str, labels: list[str], texts: list[str] | None = None, *, sep: str = ",") -> str:
        texts = texts if texts is not None else make_toy(len(labels), seed=len(name)).inputs
        pd.DataFrame({"text": texts, "label": labels}).to_csv(self.path(name), index=False, sep=sep)
        return str(self.path(name))

    def toy(self, name: str = "toy.csv", n: int = 90) -> str:
        """A learnable 3-class file (the tiny backbone's vocabulary)."""
        data = make_toy(n, classes=3)
        return self.csv(name, [data.label_names[y] for y in data.targets], data.inputs)

    def write(self, name: str, content: str | bytes) -> str:
        path = self.path(name)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    def run(self) -> Path:
        """A trained tiny run directory (full-finetune, so it has backbone weights too)."""
        if self._run is None:
            import headstart
            from headstart.specs import TrainConfig

            self._run = self.path("trained")
            headstart.fit(self.toy("run.csv"), "tiny", strategy="full-finetune", n=16, out=self._run,
                          config=TrainConfig(max_steps=2, min_steps=2, precision="fp32"))
        return self._run

    def lora_run(self) -> Path:
        """A trained LoRA run directory on the tiny BERT (a PEFT adapter: adapter_config.json + adapter_model.safetensors)."""
        if self._lora is None:
            import headstart
            from headstart.specs import TrainConfig

            self._lora = self.path("lora-trained")
            headstart.fit(self.toy("lora.csv"), "tiny-bert", strategy="lora", n=16, out=self._lora,
                          config=TrainConfig(max_steps=2, min_steps=2, precision="fp32"))
        return self._lora

    def damaged_run(self, name: str, damage: Callable[[Path], None], *, lora: bool = False) -> str:
        import shutil

        target = self.path(name)
        shutil.copytree(self.lora_run() if lora else self.run(), target)
        damage(target)
        return str(target)

    def store(self, name: str, schema_version: int) -> str:
        from headstart.store import FILENAME, Store

        Store(self.path(name)).open().close()
        conn = sqlite3.connect(self.path(name) / FILENAME)
        with conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(schema_version),))
        conn.close()  # the last connection checkpoints the WAL into the database file
        return str(self.path(name))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels: Pillow checks the size on open, before decoding anything."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def _image_folder_with_a_bomb(f: "Files") -> str:
    from PIL import Image

    for label in ("a", "b"):
        (f.root / "imgs" / label).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            Image.new("L", (8, 8), color=40 * i).save(f.root / "imgs" / label / f"{i}.png")
    (f.root / "imgs" / "a" / "huge.png").write_bytes(_png_header(20000, 20000))
    return str(f.root / "imgs")


def _damaged_store(f: "Files", name: str, damage: str) -> str:
    """A store holding one run, then damaged: ``table`` drops its runs table, ``page`` zeroes its second page."""
    from headstart.results import RunResult
    from headstart.store import FILENAME, Store

    with Store(f.path(name)) as store:
        store.put(RunResult(key="k", spec={"strategy": "linear-probe", "n": 16, "n_requested": 16, "seed": 0}, status="done",
                            metrics={"accuracy": 0.7}))
    path = f.path(name) / FILENAME
    if damage == "table":
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("DROP TABLE runs")
        conn.close()
    else:
        data = bytearray(path.read_bytes())
        page = int.from_bytes(data[16:18], "big") or 65536
        data[page : 2 * page] = bytes(page)
        path.write_bytes(bytes(data))
    return str(f.path(name))


def _kind_store(f: "Files", name: str, kind: str) -> str:
    """A store holding one run whose spec says ``kind`` ("continual", "multitask"; "compare" for neither)."""
    from headstart.results import RunResult
    from headstart.store import Store

    with Store(f.path(name)) as store:
        store.put(RunResult(key="k", spec={"strategy": "linear-probe", "n": 16, "seed": 0, **({kind: {}} if kind != "compare" else {})},
                            status="done", metrics={"accuracy": 0.7}))
    return str(f.path(name))


def _empty_store(f: "Files") -> str:
    (f.root / "zero").mkdir(exist_ok=True)
    f.write("zero/runs.sqlite", b"")
    return str(f.path("zero"))


def _sft_folder(f: Files) -> str:
    """A folder as sft saves it: its spec.json names the kind; the adapter beside it."""
    folder = f.path("sft-run")
    folder.mkdir(exist_ok=True)
    (folder / "spec.json").write_text('{"kind": "sft", "strategy": "lora"}')
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    return str(folder)


def _user_folder(f: "Files") -> str:
    (f.root / "mine").mkdir(exist_ok=True)
    f.write("mine/notes.txt", "the user's own file\n")
    return str(f.path("mine"))


def _meta_out(f: "Files") -> str:
    """The output of an earlier meta-train with 3 ways (its meta.json)."""
    from headstart.meta.config import MetaConfig

    (f.root / "meta").mkdir(exist_ok=True)
    f.write("meta/meta.json", json.dumps({"config": json.loads(json.dumps(MetaConfig(ways=3).to_json())), "rows": []}))
    return str(f.path("meta"))


def _truncate_weights(run: Path) -> None:
    (run / "weights.safetensors").write_bytes(b"not safetensors")


def _lm_run(f: "Files", name: str, kind: str) -> str:
    """A causal LM's run folder as sft / prefer write its spec.json and metrics.json (no weights: every case here is
    refused before any load)."""
    folder = f.path(name)
    folder.mkdir(exist_ok=True)
    (folder / "spec.json").write_text(json.dumps({"kind": kind, "strategy": "lora", "n": 8, "seed": 0, "eval_rows": 2,
                                                  "data": {"name": "rotten-tomatoes-sft"}}))
    (folder / "metrics.json").write_text(json.dumps({"status": "done"}))
    return str(folder)


def _drop_weights(run: Path) -> None:
    (run / "weights.safetensors").unlink()


def _drop_adapter_config(run: Path) -> None:
    (run / "adapter_config.json").unlink()


def _blocker(f: Files) -> str:
    f.write("blocker", "a file where a directory is expected\n")
    return str(f.path("blocker") / "run")


ABC = ["a", "b", "c"] * 30

CASES = [
    Case("missing file", lambda f: [*TRAIN, "--data", str(f.path("nope.csv"))], ("nope.csv'", "data file not found", "check the path")),
    Case("empty file", lambda f: [*TRAIN, "--data", f.write("empty.csv", "")], ("empty.csv", "is empty")),
    Case("header only", lambda f: [*TRAIN, "--data", f.write("header.csv", "text,label\n")], ("header.csv", "no rows")),
    Case("unreadable file (corrupt parquet)", lambda f: [*TRAIN, "--data", f.write("bad.parquet", b"PAR1 not really")],
         ("bad.parquet", "as parquet", "check the file")),
    Case("directory instead of a file", lambda f: [*TRAIN, "--data", str(f.root)], ("is a directory", ".csv")),
    Case("unknown file format", lambda f: [*TRAIN, "--data", f.write("data.xlsx", "x")], ("data.xlsx", "spreadsheet", "CSV UTF-8")),
    Case("wrong delimiter (.tsv holding commas)", lambda f: [*TRAIN, "--data", f.csv("comma.tsv", ABC)],
         ("comma.tsv", "one column", "'text,label'", "comma-separated")),
    Case("non-UTF-8 text", lambda f: [*TRAIN, "--data", f.write("latin1.csv", "text,label\ncaf\xe9 ok,a\n".encode("latin-1"))],
         ("latin1.csv", "not UTF-8", "0xe9", "iconv")),
    Case("malformed JSON lines", lambda f: [*TRAIN, "--data", f.write("bad.jsonl", '{"text": "a", "label": 1}\n{oops\n')],
         ("bad.jsonl", "cannot parse")),
    Case("JSON line: an array of records holding a bare value", lambda f: [
        *TRAIN, "--data", f.write("batch.jsonl", '[{"text": "a", "label": 1}, 5]\n')],
         ("line 1 of", "batch.jsonl' is an array of records whose item 2 is 5, not a record")),
    Case("JSON lines: a column of nested objects named as the text", lambda f: [
        *TRAIN, "--data", f.write("nested.jsonl", "".join(json.dumps({"id": i, "data": {"review": f"review {i}"},
                                                                       "meta": {"label": "ab"[i % 2]}}) + "\n" for i in range(40))),
        "--text-column", "data", "--label-column", "meta"],
         ("--text-column 'data' of", "nested.jsonl' holds JSON objects, not text", "e.g. --text-column data.review",
          "(its fields: data.review)")),
    Case("JSON lines: nested fields and no column named", lambda f: [
        *TRAIN, "--data", f.write("nested2.jsonl", "".join(json.dumps({"id": i, "data": {"review": f"review {i}"},
                                                                        "meta": {"label": "ab"[i % 2]}}) + "\n" for i in range(40)))],
         ("cannot tell which column of", "(columns: id, data.review, meta.label)", "--text-column NAME")),
    Case("JSON lines: a text column holding an object in some rows", lambda f: [
        *TRAIN, "--data", f.write("mixed.jsonl", "".join(json.dumps({"text": {"body": "x"} if i == 3 else f"review {i}",
                                                                      "label": "ab"[i % 2]}) + "\n" for i in range(40)))],
         ("text column 'text' of", "holds a JSON object, not text, in 1 row (row 4: {\"body\": \"x\"})",
          "write each row's text as a string")),
    Case("CSV without a header row (a label value as a column name)", lambda f: [
        *TRAIN, "--data", f.write("noheader.csv", "".join(f"a long review number {i} of the film,{'ab'[i % 2]}\n"
                                                          for i in range(40)))],
         ("noheader.csv' seems to have no header row", "reads as data ('a' is also a value of its own column)",
          "sed -i '1i text,label' noheader.csv")),
    Case("CSV without a header row (numeric labels, a text as a column name)", lambda f: [
        *TRAIN, "--data", f.write("noheader2.csv", "".join(f"a long review number {i} of the film,{i % 2}\n" for i in range(40)))],
         ("noheader2.csv' seems to have no header row", "'0' is also a value of its own column", "'1i text,label'")),
    Case("empty entry in an option's list", lambda f: [*TRAIN, "--strategy", "lora", "--option", "targets=query,,value",
                                                        "--out", str(f.path("run"))],
         ("targets 'query,,value' has an empty entry", "e.g. --option targets=query,value")),
    Case("missing text column", lambda f: [*TRAIN, "--data", f.csv("cols.csv", ABC), "--text-column", "review"],
         ("text column 'review' not found", "(columns: text, label)", "--text-column")),
    Case("missing label column", lambda f: [*TRAIN, "--data", f.csv("cols.csv", ABC), "--label-column", "stars"],
         ("label column 'stars' not found", "(columns: text, label)", "--label-column")),
    Case("ambiguous columns", lambda f: [*TRAIN, "--data", f.write("two.csv", "title,summary,y\n" + "a,b,1\nc,d,2\n" * 10)],
         ("which column", "(columns: title, summary, y)", "--text-column")),
    Case("every text empty", lambda f: [*TRAIN, "--data", f.csv("blank.csv", ABC, [" "] * 90)], ("blank.csv", "no rows with both text")),
    Case("some texts empty (dropped, counted)", lambda f: [*TRAIN, "--data", f.csv("some.csv", ABC, [""] * 4 + make_toy(86, classes=3).inputs),
                                                          "--backbone", "tiny", "--n", "5000"],
         ("--n 5000",), note="dropped 4 rows with empty text"),
    Case("NaN labels", lambda f: [*TRAIN, "--data", f.csv("nan.csv", ["nan", "NaN", "null"] + ABC[3:]), "--backbone", "tiny", "--n", "5000"],
         ("--n 5000",), note="dropped 3 rows with no label (1 'NaN', 1 'nan', 1 'null')"),
    Case("every label missing", lambda f: [*TRAIN, "--data", f.csv("nolabels.csv", ["NaN"] * 90)], ("nolabels.csv", "no rows with both")),
    Case("a single class", lambda f: [*TRAIN, "--data", f.csv("one.csv", ["a"] * 30)], ("single class ('a')", "at least two")),
    Case("a class too small to stratify", lambda f: [*TRAIN, "--data", f.csv("small.csv", ["a", "b"] * 30 + ["c", "c"])],
         ("['c']", "fewer than 3 examples", "edit the file: in its label column 'label', delete their 2 rows or give them "
                                             "another class's label")),
    Case("a label mapping in brackets on --data", lambda f: [*TRAIN, "--data", f.csv("small.csv", ["a", "b"] * 30 + ["c", "c"])
                                                               + "[c=-]"],
         ("small.csv[c=-]'", "read on --eval-data only, not on training data", "edit '", "small.csv' (in its label column")),
    Case("--label-column naming a column of free text", lambda f: [*TRAIN, "--data", f.write("texts.csv", "text,label\n" + "".join(
        f"review {i} is here,pos\n" for i in range(40))), "--label-column", "text"],
         ("has 40 classes in 40 rows", "and 35 more", "the label column looks like free text", "--label-column")),
    Case("labels in test absent from train", lambda f: [*TRAIN, "--data", f.write("multi.jsonl", "".join(
        json.dumps({"text": t, "label": ["rare"] if i == 0 else [["x"], ["y"], ["x", "y"]][i % 3]}) + "\n"
        for i, t in enumerate(make_toy(60).inputs)))], ("'rare'", "not in the training pool", "at least 3")),
    Case("n larger than the pool", lambda f: [*TRAIN, "--data", f.toy(), "--n", "5000"],
         ("--n 5000 is larger than the training pool", "--n all")),
    Case("n smaller than the number of classes", lambda f: [*TRAIN, "--data", f.toy(), "--n", "2"],
         ("--n 2 is smaller than the number of classes (3)", "--n 3")),
    Case("malformed --n", lambda f: [*TRAIN, "--data", f.toy(), "--n", "sixty"], ("'sixty'", "try --n 64")),
    Case("--test-data beside --split-column", lambda f: [*TRAIN, "--data", f.toy(), "--test-data", f.toy("test.csv", 30),
                                                         "--split-column", "split"],
         ("--test-data", "test.csv' and --split-column 'split' both name the test rows; drop one")),
    Case("--test-data beside a column named split in the training file",
         lambda f: [*TRAIN, "--data", f.write("tr.csv", "text,label,split\n" + "".join(
             f"{t},{'pos' if i % 2 else 'neg'},{'test' if i % 4 == 0 else 'train'}\n" for i, t in enumerate(make_toy(40).inputs))),
                    "--backbone", "tiny", "--test-data", f.csv("test.csv", ["pos", "neg"] * 15)],
         ("--test-data", "test.csv' and column 'split' of", "tr.csv' both name test rows", "--split-column none")),
    Case("--test-data lacking the training file's label column",
         lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--test-data", f.write("texts.csv", "text\nsome words\n")],
         ("--test-data", "texts.csv' has no column 'label', which 'toy.csv' is read by", "give it the training file's columns")),
    Case("malformed --sizes", lambda f: ["compare", "--data", f.toy(), "--sizes", "8,abc", "--out", str(f.path("cmp"))],
         ("'abc'", "--sizes 0,8,16,32,all")),
    Case("--lr for a strategy that trains only its head", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--strategy",
         "linear-probe", "--lr", "5"], ("--lr sets the backbone's rate, and linear-probe trains only its head", "--head-lr 5")),
    Case("a step budget for a closed-form strategy", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--strategy",
         "embed-logreg", "--epochs", "5"], ("--epochs: embed-logreg is fitted in closed form", "drop it")),
    Case("--tune lr for a strategy with no rate to search", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--strategy",
         "embed-logreg", "--tune", "lr"], ("--tune lr: embed-logreg has no learning rate to search", "drop --tune")),
    Case("--metric the task does not score", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--metric", "rmse"],
         ("--metric rmse is not scored on a classification task", "accuracy, macro_f1")),
    Case("a size named twice in --sizes", lambda f: ["compare", "--data", f.toy(), "--sizes", "16,16", "--out", str(f.path("cmp"))],
         ("--sizes lists a size twice (16, 16)", "give each once")),
    Case("a size named twice in a config's sizes", lambda f: ["compare", "--data", f.toy(), "--config", f.write("dup.toml", "sizes = [16, 16]\n"),
         "--out", str(f.path("cmp"))], ("sizes in ", "dup.toml' lists a size twice (16, 16)", "give each once")),
    Case("a strategy named twice in --strategies", lambda f: ["compare", "--data", f.toy(), "--strategies", "lora,lora",
         "--out", str(f.path("cmp"))], ("--strategies lists a strategy twice (lora, lora)", "give each once")),
    Case("size in --sizes larger than the pool", lambda f: ["compare", "--data", f.toy(), "--backbone", "tiny", "--sizes", "8,5000",
                                                            "--out", str(f.path("cmp"))], ("size 5000", "larger than the training pool")),
    Case("unknown strategy", lambda f: [*TRAIN, "--data", f.toy(), "--strategy", "lora-x"], ("'lora-x'", "did you mean 'lora'", "available:")),
    Case("unknown backbone", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "all-minilm-l6"],
         ("'all-minilm-l6'", "did you mean 'all-minilm-l6-v2'")),
    Case("unknown dataset", lambda f: [*TRAIN, "--data", "rotten-tomatos"], ("'rotten-tomatos'", "did you mean 'rotten-tomatoes'")),
    Case("learning rate out of range", lambda f: [*TRAIN, "--data", f.toy(), "--lr", "-0.1"], ("--lr must be > 0", "-0.1", "--lr 1e-5")),
    Case("warmup out of range", lambda f: [*TRAIN, "--data", f.toy(), "--warmup", "1.5"], ("warmup", "1.5", "--warmup 0.1")),
    Case("batch size out of range", lambda f: [*TRAIN, "--data", f.toy(), "--batch-size", "0"], ("--batch-size must be a positive integer", "got 0", "--batch-size 16")),
    Case("strategy option out of range", lambda f: [*TRAIN, "--data", f.toy(), "--strategy", "llrd", "--decay", "1.5"],
         ("decay must be in (0, 1]", "1.5", "try --decay 0.7")),
    Case("option for another strategy", lambda f: [*TRAIN, "--data", f.toy(), "--strategy", "full-finetune", "--freeze", "2"],
         ("--freeze does not apply", "'full-finetune'")),
    Case("unknown schedule", lambda f: [*TRAIN, "--data", f.toy(), "--schedule", "cosin"], ("'cosin'", "did you mean 'cosine'")),
    Case("leakage threshold out of range", lambda f: ["check-leakage", "--data", f.toy(), "--threshold", "1.5"],
         ("--threshold must be in (0, 1]", "1.5", "--threshold 0.8")),
    Case("unwritable output directory (train)", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--out", _blocker(f)],
         ("blocker", "cannot write", "--out")),
    Case("unwritable output directory (compare)", lambda f: ["compare", "--data", f.toy(), "--backbone", "tiny", "--sizes", "8",
                                                             "--out", _blocker(f)], ("blocker", "--out")),
    Case("store from an incompatible version", lambda f: ["runs", f.store("old-store", 99)],
         ("schema version 99", f"this headstart reads version {SCHEMA_VERSION}", "--out")),
    Case("not a store", lambda f: ["runs", str(f.root)], ("no results store", "headstart compare --out")),
    Case("model directory without weights", lambda f: ["evaluate", f.damaged_run("noweights", _drop_weights)],
         ("noweights", "is missing")),
    Case("model directory with corrupt weights", lambda f: ["evaluate", f.damaged_run("corrupt", _truncate_weights)],
         ("corrupt", "is corrupt")),
    *(Case(f"LoRA run folder without adapter_config.json ({command})", lambda f, command=command: [
        command, f.damaged_run("noconfig", _drop_adapter_config, lora=True),
        *({"predict": ["-"], "export": ["--out", str(f.path("exported"))]}.get(command, []))],
        ("noconfig' has no adapter_config.json", "train the run again (or copy the whole run folder)"),
        stdin="some text\n" if command == "predict" else "") for command in ("predict", "evaluate", "export")),
    Case("not a model directory", lambda f: ["predict", str(f.root), "-"], ("is not a headstart run", "headstart train"),
         stdin="some text\n"),
    Case("run from an incompatible version", lambda f: ["evaluate", f.damaged_run("v99", lambda d: (d / "spec.json").write_text(
        json.dumps({**json.loads((d / "spec.json").read_text()), "format_version": 99})))], ("v99", "incompatible", "format 99")),
    Case("predict input without the text column", lambda f: ["predict", str(f.run()), f.write("scores.csv", "id,score\n1,2\n3,4\n")],
         ("scores.csv", "(columns: id, score)", "--text-column")),
    Case("predict input with a wrong --text-column", lambda f: ["predict", str(f.run()), f.toy("in.csv"), "--text-column", "body"],
         ("text column 'body' not found", "(columns: text, label)")),
    Case("evaluate on an unknown split", lambda f: ["evaluate", str(f.run()), "--split", "train"], ("'train'", "'test' or 'val'")),
    Case("evaluate a prefer run (it answers no test prompts)", lambda f: ["evaluate", _lm_run(f, "dpo", "prefer")],
         ("dpo' is a prefer run", "answers no test prompts", "dpo --prompt TEXT asks it")),
    Case("evaluate an sft run with a classifier's --eval-data", lambda f: ["evaluate", _lm_run(f, "sft", "sft"), "--eval-data",
                                                                           f.toy("other.csv")],
         ("--eval-data scores a classifier", "an sft run is scored on the test prompts", "drop it")),
    # issue 25: inputs that gave tracebacks
    Case("unknown --task", lambda f: [*TRAIN, "--data", f.toy(), "--task", "bogus"], ("'bogus'", "--task classification")),
    Case("--seed beyond 64 bits", lambda f: [*TRAIN, "--data", f.toy(), "--seed", str(2**70)],
         ("--seed must be an integer from 0 to 2**63 - 1", str(2**70))),
    Case("non-UTF-8 bytes on predict's stdin", lambda f: ["predict", str(f.run()), "-"], ("standard input is not UTF-8", "0xff", "iconv"),
         stdin=b"\xff\xfe caf\xe9\n"),
    Case("JSON nested 200k levels deep", lambda f: [*TRAIN, "--data", f.write("deep.json", "[" * 200_000 + "]" * 200_000)],
         ("deep.json", "nested too deeply")),
    Case("an image over Pillow's decompression-bomb limit", lambda f: [*TRAIN, "--data", _image_folder_with_a_bomb(f),
                                                                      "--backbone", "mnist-cnn"], ("huge.png", "too large to read safely")),
    Case("--config pointing at a directory", lambda f: ["compare", "--config", str(f.root)], ("is a directory, not a file", ".toml")),
    Case("TOML table of the wrong type", lambda f: ["compare", "--config", f.write("t.toml", "train = 5\n")],
         ("train must be a table", "t.toml", "got 5")),
    Case("TOML value of the wrong type", lambda f: ["compare", "--config", f.write("w.toml", '[train]\nwarmup = "0.1"\n')],
         ("[train] warmup in", "w.toml", 'must be a number, got "0.1"')),
    Case("TOML [split] value of the wrong type", lambda f: ["compare", "--config", f.write("s.toml", '[split]\ntest_fraction = "x"\n')],
         ("[split] test_fraction in", "s.toml", 'must be a number, got "x"; e.g. test_fraction = 0.2')),  # was a TypeError's traceback
    Case("TOML true where a number goes", lambda f: ["compare", "--config", f.write("b.toml", "[split]\nmax_val = true\n")],
         ("[split] max_val in", "b.toml", "must be a whole number, got true; e.g. max_val = 300")),  # was read as 1
    Case("TOML true where a [train] count goes", lambda f: ["compare", "--config", f.write("e.toml", "[train]\nepochs = true\n")],
         ("[train] epochs in", "e.toml", "must be a whole number, got true")),  # was "epochs ... got True", no file
    Case("hand-edited spec.json", lambda f: ["evaluate", f.damaged_run("edited", lambda d: (d / "spec.json").write_text(
        json.dumps({**json.loads((d / "spec.json").read_text()), "resolved": 5})))], ("edited", "is damaged", "resolved is 5")),
    Case("store with a dropped table", lambda f: ["runs", _damaged_store(f, "dropped", "table")], ("dropped", "no such table: runs")),
    Case("store with a zeroed page", lambda f: ["report", _damaged_store(f, "zeroed", "page")], ("zeroed", "malformed")),
    Case("adapters merge --inputs 0", lambda f: ["adapters", "merge", str(f.run()), "--out", str(f.path("merged")), "--inputs", "0"],
         ("--inputs must be a positive number", "got 0", "--inputs 64")),
    Case("a word where a number goes", lambda f: [*TRAIN, "--lr", "abc"],
         ("Invalid value for '--lr': got 'abc'; input should be a valid number", "see headstart train --help")),
    Case("a word where an integer goes, as --opt=value", lambda f: ["compare", "--data", f.toy(), "--seeds=three"],
         ("Invalid value for '--seeds': got 'three'", "see headstart compare --help")),
    Case("an option given twice, the bad one unknown", lambda f: [*TRAIN, "--lr", "abc", "--lr", "abd"],
         ("Invalid value for '--lr': Input should be a valid number", "see headstart train --help")),
    Case("an option missing its value at the end of the line", lambda f: ["adapters", "merge", "--tolerance"],
         ("Option '--tolerance' requires an argument", "see headstart adapters merge --help")),
    Case("a misspelled command", lambda f: ["trian"], ("No such command 'trian'", "Did you mean 'train'", "see headstart --help")),
    Case("a command named by a part of it", lambda f: ["meta"], ("No such command 'meta'. Did you mean 'meta-train'?",
                                                               "see headstart --help")),
    Case("an adapters subcommand that does not exist", lambda f: ["adapters", "info"],
         ("No such command 'info'. Did you mean 'show'?", "see headstart adapters --help")),
    Case("a command named by a synonym", lambda f: ["ls"], ("No such command 'ls'. Did you mean 'runs'?", "see headstart --help")),
    Case("--strategies with --arms", lambda f: ["compare", "--data", f.toy(), "--strategies", "linear-probe", "--arms", "lora"],
         ("--strategies and --arms both say what to compare", "--arms linear-probe,lora")),
    Case("compare --sizes beyond the pool, before the leakage line", lambda f: ["compare", "--data", f.toy(), "--strategies",
         "linear-probe", "--sizes", "1000", "--out", str(f.path("cmp"))], ("size 1000 in --sizes is larger than the training pool",)),
    Case("compare --retain an unknown dataset, before the leakage line", lambda f: [
        "compare", "--data", f.toy(), "--backbone", "tiny", "--arms", "full-finetune", "--retain", "drug-review", "--sizes", "16",
        "--seeds", "1", "--max-steps", "2", "--no-tune", "--out", str(f.path("cmp"))],
         ("--retain 'drug-review' is an unknown dataset", "did you mean 'drug-reviews'?")),
    Case("compare arm whose replay[data=] names an unknown dataset", lambda f: [
        "compare", "--data", f.toy(), "--backbone", "tiny", "--arms", "full-finetune+replay[data=nope]", "--sizes", "16",
        "--seeds", "1", "--max-steps", "2", "--no-tune", "--out", str(f.path("cmp"))], ("replay[data=nope] is an unknown dataset", "(built-in text classification datasets: ")),
    Case("train --retain an unknown dataset, before training", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny",
         "--strategy", "full-finetune", "--n", "16", "--max-steps", "2", "--retain", "drug-review", "--out", str(f.path("run"))],
         ("--retain 'drug-review' is an unknown dataset", "did you mean 'drug-reviews'?")),
    Case("train: a term reads the dataset --eval-data scores", lambda f: [
        *TRAIN, "--data", "rotten-tomatoes", "--strategy", "full-finetune", "--n", "16", "--max-steps", "2", "--terms",
        "replay[data=drug-reviews-sentiment]", "--eval-data", "drug-reviews-sentiment", "--out", str(f.path("run"))],
         ("replay[data=drug-reviews-sentiment] reads rows and labels of the pool", "the two share rows", "score another dataset")),
    Case("train: ewc reads a small dataset --retain cross-fits", lambda f: [
        *TRAIN, "--data", "rotten-tomatoes", "--strategy", "full-finetune", "--n", "16", "--max-steps", "2", "--terms",
        "ewc[data=drug-reviews]", "--retain", "drug-reviews", "--out", str(f.path("run"))],
         ("ewc[data=drug-reviews] reads inputs of 'drug-reviews'", "495 rows, under 3000", "ewc without data=")),
    Case("compare: an alignment term reads the dataset --retain scores", lambda f: [
        "compare", "--data", "rotten-tomatoes", "--arms", "full-finetune+mmd[data=drug-reviews-sentiment]", "--retain",
        "drug-reviews-sentiment", "--sizes", "16", "--seeds", "1", "--max-steps", "2", "--no-tune", "--out", str(f.path("cmp"))],
         ("mmd[data=drug-reviews-sentiment] reads inputs of 'drug-reviews-sentiment'", "retain another dataset")),
    Case("train --retain a dataset that shares the run's texts", lambda f: [
        *TRAIN, "--data", "drug-reviews-sentiment", "--strategy", "full-finetune", "--n", "16", "--max-steps", "2",
        "--retain", "drug-reviews", "--out", str(f.path("run"))],
         ("--retain 'drug-reviews': 391 of its 495 inputs are inputs of the training pool or validation split of "
          "'drug-reviews-sentiment'", "retain a dataset of other inputs")),
    Case("compare --retain the run's own data", lambda f: [
        "compare", "--data", "drug-reviews", "--arms", "full-finetune", "--retain", "drug-reviews", "--sizes", "16",
        "--seeds", "1", "--max-steps", "2", "--no-tune", "--out", str(f.path("cmp"))],
         ("--retain 'drug-reviews' is the run's own data ('drug-reviews')", "retain another dataset")),
    Case("sft --seed below 0", lambda f: ["sft", "--seed", "-1", "--out", str(f.path("sft"))],
         ("--seed must be an integer from 0 to 2**63 - 1, got -1", "--seed 0")),
    Case("prefer --seed below 0", lambda f: ["prefer", "--seed", "-1", "--out", str(f.path("pref"))],
         ("--seed must be an integer from 0 to 2**63 - 1, got -1", "--seed 0")),
    Case("prefer --out the --sft run it starts from", lambda f: ["prefer", "--sft", str(f.run()), "--out", str(f.run())],
         ("is the --sft run this one starts from, and writing there would replace it", "-dpo'")),
    Case("train --out an sft run", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--out", _sft_folder(f)],
         ("holds a saved sft / prefer run", "not a saved run", "nothing was written there")),
    Case("meta-train --tune meta-lr with no Adam arm", lambda f: ["meta-train", "--arms", "reptile", "--tune", "meta-lr",
                                                                  "--out", str(f.path("meta"))],
         ("--tune meta-lr tunes the Adam rate of protonet, maml and fomaml; reptile trains without one", "drop --tune")),
    Case("meta-train --val-per-class below one episode", lambda f: ["meta-train", "--val-per-class", "3", "--out", str(f.path("meta"))],
         ("--val-per-class 3 cannot fill a validation episode, which needs shots + queries = 20 rows a class",
          "--val-per-class 150")),
    Case("meta-train --seed below 0", lambda f: ["meta-train", "--seed", "-1", "--out", str(f.path("meta"))],
         ("--seed must be an integer from 0 to 2**63 - 1, got -1", "--seed 0")),
    Case("continual --max-test neither a number nor all", lambda f: ["continual", "--max-test", "most", "--out", str(f.path("ct"))],
         ("--max-test must be a positive integer or all, got 'most'", "--max-test 1000")),
    Case("multitask --max-test 0", lambda f: ["multitask", "--tasks", f"{f.toy()},{f.toy('b.csv')}", "--max-test", "0", "--out",
                                             str(f.path("mt"))], ("--max-test must be a positive integer or all, got '0'", "--max-test 1000")),
    Case("train --max-val 0", lambda f: ["train", "--data", f.toy(), "--max-val", "0", "--out", str(f.path("run"))],
         ("--max-val must be a positive integer", "got '0'", "e.g. --max-val 100")),
    Case("adapt --max-val 0", lambda f: ["adapt", "--source", f.toy(), "--target", f.toy(), "--max-val", "0", "--out",
                                         str(f.path("ad"))], ("--max-val must be a positive integer", "got '0'", "e.g. --max-val 100")),
    Case("continual --arms empty", lambda f: ["continual", "--arms", "", "--out", str(f.path("ct"))],
         ("--arms is empty", "try --arms naive,ewc")),
    Case("rank-backbones --out on a folder of other files", lambda f: ["rank-backbones", "--backbones", "tiny", "--data", f.toy(),
                                                                      "--out", _user_folder(f)],
         ("holds notes.txt, not a compare store or an earlier ranking", "nothing was written there")),
    Case("compare --workers 0", lambda f: ["compare", "--data", f.toy(), "--workers", "0", "--out", str(f.path("cmp"))],
         ("--workers must be a positive integer, got 0", "--workers 1")),
    Case("multitask FILE:COLUMN naming no column", lambda f: ["multitask", "--tasks", f"{f.toy()}:nocol,{f.toy('b.csv')}", "--out",
                                                                 str(f.path("mt"))], ("label column 'nocol' not found", ":COLUMN")),
    Case("multitask option its strategy lacks", lambda f: ["multitask", "--tasks", f"{f.toy()},{f.toy('b.csv')}", "--backbone", "tiny",
                                                          "--n", "8", "--option", "rank=4", "--out", str(f.path("mt"))],
         ("option 'rank' does not apply to strategy 'full-finetune'",)),
    Case("predict on an empty file", lambda f: ["predict", str(f.run()), f.write("none.csv", "")],
         ("none.csv' is empty", "a row for each input to predict on")),
    Case("sft on an empty file", lambda f: ["sft", "--data", f.write("empty.txt", ""), "--out", str(f.path("sft"))],
         ("empty.txt' is empty; give a table with prompt / response columns", "whose header is prompt,response")),  # not a classifier's
    Case("predict on a header-only table", lambda f: ["predict", str(f.run()), f.write("header.csv", "text\n")],
         ("has no rows to predict on", "add one input per row")),
    Case("predict on a table whose every text is empty", lambda f: ["predict", str(f.run()), f.write("blanks.csv", "id,text\n1,\n2, \n")],
         ("has no text to predict on", "'text' is empty in every row", "--text-column NAME")),
    Case("predict on empty standard input", lambda f: ["predict", str(f.run()), "-"], ("standard input holds no text",)),
    Case("TOML count of the wrong type", lambda f: ["compare", "--config", f.write("seeds.toml", 'seeds = "three"\n')],
         ("seeds in", "seeds.toml", "must be a positive integer like seeds = 3", '"three"')),
    Case("TOML number where a path goes", lambda f: ["compare", "--config", f.write("o.toml", "out = 5\n")],
         ("out in ", "o.toml' must be a string", 'out = "runs/compare"', "got 5")),  # was a TypeError's traceback, exit 1
    Case("TOML 1 where a switch goes", lambda f: ["compare", "--config", f.write("t.toml", "tune = 1\n")],
         ("tune in ", "t.toml' must be true, false or \"lr\", got 1")),  # was read as tune = true
    Case("TOML 1 for an [[arm]] switch", lambda f: ["compare", "--config", f.write(
            "a.toml", '[[arm]]\nstrategy = "zero-shot-prompt"\ncalibrate = 1\n')],
         ("[[arm]] 'zero-shot-prompt' calibrate in ", "a.toml' must be true or false, got 1")),  # was the flag's words
    Case("TOML misspelt task", lambda f: ["compare", "--config", f.write("k.toml", 'task = "regresion"\n')],
         ("task in ", "k.toml' must be one of", 'did you mean task = "regression"')),  # was named as --task
    Case("meta-train --episodes 0", lambda f: ["meta-train", "--episodes", "0", "--out", str(f.path("meta"))],
         ("--episodes must be >= 1, got 0", "--episodes 600 (the default)")),
    Case("rank-backbones of another modality", lambda f: ["rank-backbones", "--backbones", "tiny,mnist-cnn", "--data", f.toy()],
         ("holds texts but --backbones mnist-cnn reads other inputs",)),
    Case("adapt target without a label column", lambda f: ["adapt", "--source", f.toy(), "--target", f.write("texts.csv", "text\na\nb\n"),
                                                           "--out", str(f.path("ad"))],
         ("texts.csv' was read as one column ('text')", "give a table with a text and a label column")),
    Case("compare into a train run", lambda f: ["compare", "--data", f.toy(), "--out", str(f.run())],
         ("holds a saved run", "not a compare store", "choose a new or empty folder")),
    Case("runs --status misspelled", lambda f: ["runs", f.store("store", SCHEMA_VERSION), "--status", "dne"],
         ("--status must be one of pending, running, done, failed, diverged", "'dne'", "--status done")),
    Case("runs --mlflow-uri without --to-mlflow", lambda f: ["runs", f.store("store", SCHEMA_VERSION), "--mlflow-uri", "sqlite:///x.db"],
         ("'sqlite:///x.db'", "add --to-mlflow")),
    Case("predict --out of an unknown format", lambda f: ["predict", str(f.run()), f.write("in.txt", "a review\n"), "--out",
                                                           str(f.path("p.xlsx"))], ("p.xlsx", ".jsonl or .csv", "p.jsonl")),
    Case("sft --rank with full-finetune", lambda f: ["sft", "--strategy", "full-finetune", "--rank", "4", "--out", str(f.path("s"))],
         ("--rank shapes a lora/qlora adapter", "--strategy lora")),
    Case("generate --temperature below 0", lambda f: ["generate", str(f.path("no-run")), "--prompt", "hi", "--temperature", "-1"],
         ("--temperature must be a finite number >= 0", "got -1.0")),
    Case("generate --temperature nan", lambda f: ["generate", str(f.path("no-run")), "--prompt", "hi", "--temperature", "nan"],
         ("--temperature must be a finite number >= 0", "got nan")),
    Case("train --weight-decay inf", lambda f: ["train", "--n", "16", "--weight-decay", "inf", "--out", str(f.path("wd"))],
         ("--weight-decay must be a finite number >= 0, got inf", "--weight-decay 0.01")),
    Case("export --inputs 0", lambda f: ["export", str(f.run()), "--out", str(f.path("ex")), "--inputs", "0"],
         ("--inputs must be a positive number of validation inputs to check the export on, got 0", "--inputs 64")),
    Case("export --tolerance below 0", lambda f: ["export", str(f.run()), "--out", str(f.path("ex")), "--tolerance", "-1"],
         ("--tolerance", "a number >= 0", "got -1.0", "--tolerance 1e-4")),
    Case("rank-backbones --size not a number", lambda f: ["rank-backbones", "--backbones", "tiny", "--data", f.toy(), "--measured",
                                                          f.store("store", SCHEMA_VERSION), "--size", "x"],
         ("--size must be a non-negative integer or 'all'", "'x'", "--size 64")),
    Case("compare --out on a folder of other files", lambda f: ["compare", "--data", f.toy(), "--backbone", "tiny", "--out",
                                                               _user_folder(f)], ("holds files headstart did not write", "new or empty")),
    Case("compare --out on a continual store", lambda f: ["compare", "--data", f.toy(), "--backbone", "tiny", "--out",
                                                         _kind_store(f, "cs", "continual")], ("holds a continual store",)),
    Case("train --out on a compare store (would replace it)", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--out",
                                                                         _kind_store(f, "store", "compare")],
         ("holds a compare store", "not a saved run")),
    Case("train --out on a folder of other files (before training)", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny",
                                                                                "--out", _user_folder(f)],
         ("holds files headstart did not write",)),
    Case("train --out is a file", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--out", f.write("run.txt", "x")],
         ("is a file, not a folder",)),
    Case("train --out on a saved run of another strategy (its model would be lost)",
         lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16", "--out", str(f.run())],
         ("holds another run (full-finetune, n = 16, seed 0)", "nothing was trained or replaced", "trained-linear-probe",
          "add --overwrite")),
    Case("adapt --out on a saved run", lambda f: ["adapt", "--source", "rotten-tomatoes", "--target", "drug-reviews-sentiment",
                                                  "--out", str(f.run())], ("holds a saved run",)),
    Case("continual --out on a compare store", lambda f: ["continual", "--out", _kind_store(f, "store", "compare")],
         ("holds a compare store", "not a continual store")),
    Case("multitask --out on a continual store", lambda f: ["multitask", "--out", _kind_store(f, "cs", "continual")],
         ("holds a continual store", "not a multitask store")),
    Case("meta-train --out on another meta-train", lambda f: ["meta-train", "--out", _meta_out(f), "--ways", "5"],
         ("holds another meta-train", "(--ways 3, not 5)")),
    Case("meta-train --out on a folder of other files", lambda f: ["meta-train", "--out", _user_folder(f)],
         ("holds files headstart did not write",)),
    Case("train --tune lr beside --lr", lambda f: [*TRAIN, "--data", f.toy(), "--backbone", "tiny", "--strategy", "full-finetune",
                                                   "--tune", "lr", "--lr", "3e-5"],
         ("--tune lr searches full-finetune's lr", "--lr 3e-05 fixes it", "give one of them")),
    Case("adapt --target whose labels do not map", lambda f: ["adapt", "--source", "rotten-tomatoes", "--target", "drug-reviews",
                                                              "--out", str(f.path("ad"))],
         ("--target drug-reviews: its label(s)", "e.g. --target 'drug-reviews[")),
    Case("adapt's oracle where a built-in pair maps the target's labels", lambda f: [
        "adapt", "--source", "rotten-tomatoes", "--target", "drug-reviews-sentiment", "--methods", "source-only", "--sizes", "16",
        "--oracle", "--out", str(f.path("ad"))],
         ("the oracle trains on drug-reviews-sentiment's own labels", "neutral left out", "another task", "drop --oracle")),
    Case("adapt --sizes 0", lambda f: ["adapt", "--source", "rotten-tomatoes", "--target", "drug-reviews-sentiment", "--sizes", "0,16",
                                       "--out", str(f.path("ad"))], ("--sizes holds 0", "--sizes 16")),
    Case("adapt --methods misspelt", lambda f: ["adapt", "--source", "rotten-tomatoes", "--target", "drug-reviews-sentiment",
                                                "--methods", "source-only,lora-x", "--out", str(f.path("ad"))],
         ("unknown adaptation method 'lora-x'; did you mean 'lora'?",)),
    Case("compare --grid for a strategy not compared", lambda f: ["compare", "--data", f.toy(), "--grid", "bogus=", "--out",
                                                                 str(f.path("cg"))], ("--grid bogus=: 'bogus' is not in --strategies",)),
    Case("compare --grid setfit=", lambda f: ["compare", "--data", f.toy(), "--strategies", "setfit,linear-probe", "--grid",
                                              "setfit=1e-5,2e-5", "--out", str(f.path("cg"))],
         ("setfit has no learning rate to tune", "which --lr changes")),
    Case("setfit on a regression dataset, before anything trains", lambda f: [
        "compare", "--data", "drug-reviews-rating", "--backbone", "tiny", "--strategies", "linear-probe,setfit", "--sizes", "16",
        "--seeds", "1", "--no-tune", "--out", str(f.path("cs"))], ("setfit pairs rows by class; this is a regression dataset",)),
    Case("train --label-descriptions with a strategy that reads none", lambda f: [
        *TRAIN, "--data", f.toy(), "--backbone", "tiny", "--strategy", "full-finetune", "--label-descriptions", "a=good,b=bad"],
         ("--label-descriptions gives the classes' texts to zero-shot", "full-finetune reads labelled rows", "--strategy zero-shot")),
    Case("runs on a saved run", lambda f: ["runs", str(f.run())], ("is a saved run (headstart train), not a results store",
                                                                   "headstart evaluate")),
    Case("runs on the store's file", lambda f: ["runs", f.store("store", SCHEMA_VERSION) + "/runs.sqlite"],
         ("is the store's file; give the folder that holds it",)),
    Case("predict --out the input file", lambda f: ["predict", str(f.run()), f.write("in.jsonl", '{"text": "a review"}\n'), "--out",
                                                    str(f.path("in.jsonl"))], ("is the input file", "in-predictions.jsonl")),
    Case("compare into a damaged store, before the data loads", lambda f: [
        "compare", "--data", f.toy(), "--backbone", "tiny", "--out", _damaged_store(f, "zeroed", "page")], ("zeroed", "malformed")),
    Case("continual with a strategy the backbone cannot take, nothing left behind", lambda f: [
        "continual", "--stream", "permuted-mnist", "--arms", "naive", "--strategy", "prompt-tuning", "--n", "16", "--seeds", "1",
        "--out", str(f.path("cl"))], ("strategy 'prompt-tuning' does not apply to image backbones",)),
    Case("runs on a 0-byte runs.sqlite", lambda f: ["runs", _empty_store(f)], ("holds no headstart runs", "empty or foreign")),
    Case("report on a 0-byte runs.sqlite", lambda f: ["report", _empty_store(f)], ("holds no headstart runs",)),
    Case("export --out that cannot be created", lambda f: ["export", str(f.run()), "--out", _blocker(f)],
         ("cannot write to output directory", "not a directory")),
]


def use_tiny_backbone(setattr: Callable[[object, str, object], None]) -> None:
    """``--backbone tiny`` loads conftest's TinyBackbone in train, evaluate/predict and compare; ``tiny-bert`` its tiny
    BERT (a LoRA run's backbone)."""
    import headstart.backbones
    import headstart.backbones.registry as registry
    import headstart.recipe
    import headstart.saved

    real = registry.load_backbone

    def load(name_or_path: str, *, max_length: int = 128, pooling: str | None = None, image_size: int | None = None,
             quantize: bool = False, download: bool = True):
        if name_or_path in ("tiny", "tiny-bert"):
            return tiny_backbone(0) if name_or_path == "tiny" else tiny_bert(0)
        return real(name_or_path, max_length=max_length, pooling=pooling, image_size=image_size, quantize=quantize,
                    download=download)

    for module in (headstart.recipe, headstart.saved, headstart.backbones):
        setattr(module, "load_backbone", load)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) under ``root``: a refused command leaves not even an empty folder."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def run_case(case: Case, files: Files, capsys_readouterr: Callable[[], tuple[str, str]]) -> tuple[list[str], int, str, str, dict[str, bytes]]:
    """Run the case through ``headstart.cli.main`` in this process: (argv, exit code, stdout, stderr, files before)."""
    from headstart.cli import main

    args = case.args(files)
    before = snapshot(files.root)
    capsys_readouterr()  # drop anything printed while building the files
    old_argv, old_stdin = sys.argv, sys.stdin
    stdin = io.TextIOWrapper(io.BytesIO(case.stdin)) if isinstance(case.stdin, bytes) else io.StringIO(case.stdin)
    sys.argv, sys.stdin = ["headstart", *args], stdin
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv, sys.stdin = old_argv, old_stdin
    out, err = capsys_readouterr()
    return args, code, out, err, before


@pytest.fixture
def files(tmp_path, monkeypatch) -> Files:
    use_tiny_backbone(monkeypatch.setattr)
    return Files(tmp_path)


@pytest.mark.parametrize("case", CASES, ids=[c.item for c in CASES])
def test_bad_input(case, files, capsys):
    def read() -> tuple[str, str]:
        captured = capsys.readouterr()
        return captured.out, captured.err

    args, code, out, err, before = run_case(case, files, read)
    lines = err.strip().splitlines()
    assert code == case.code, (args, code, out, err)
    assert "Traceback" not in out + err
    assert out == "", out  # nothing on stdout either: no summary, no leakage line before the refusal
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err  # one error line, last; only notes may come before it
    assert all(line.startswith("note: ") for line in lines[:-1]), err
    for fragment in case.expect:
        assert fragment in errors[0], (fragment, errors[0])
    if case.note:
        assert any(line.startswith("note: ") and line.endswith(case.note) for line in lines[:-1]), err
    after = snapshot(files.root)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing that existed was changed or lost
    assert not set(after) - set(before), sorted(set(after) - set(before))  # and a refused command wrote nothing


def test_every_issue_item_has_a_case():
    items = " | ".join(c.item for c in CASES)
    for item in ("missing file", "empty file", "unreadable", "wrong delimiter", "non-UTF-8", "missing text column",
                 "missing label column", "texts empty", "NaN labels", "single class", "too small to stratify",
                 "labels in test absent from train", "n larger than the pool", "n smaller than the number of classes",
                 "malformed --sizes", "unknown strategy", "unknown backbone", "unknown dataset", "out of range",
                 "unwritable output directory", "incompatible version", "without weights", "corrupt weights",
                 "predict input without the text column"):
        assert item in items, item


def test_a_class_only_in_test_groups_is_refused():
    """Not reachable from a file (files have no groups); a grouped Dataset from the API can put a class only in test."""
    import numpy as np

    from headstart.data.dataset import Dataset
    from headstart.data.splits import split_dataset
    from headstart.errors import DataError

    targets = np.array([0, 1] * 40 + [2] * 3)
    groups = np.concatenate([np.arange(80), [80, 80, 80]])  # the three 'c' examples are one group: it goes to test whole
    data = Dataset(name="grouped", inputs=[f"t{i}" for i in range(83)], targets=targets, task="classification",
                   label_names=("a", "b", "c"), groups=groups)
    with pytest.raises(DataError, match=r"labels \['c'\] of 'grouped' are in the test or validation split but not in the "
                                        r"training pool.*in more than one group"):
        split_dataset(data)


def test_a_column_error_crosses_a_process_boundary_as_itself():
    """A sweep worker's loader error reaches the parent pickled: it must come back with its message and fields."""
    import pickle

    from headstart.errors import ColumnError

    back = pickle.loads(pickle.dumps(ColumnError("label column 'x' not found in 'a.csv'", "label")))
    assert isinstance(back, ColumnError) and (back.problem, back.kind) == ("label column 'x' not found in 'a.csv'", "label")
    assert str(back) == "label column 'x' not found in 'a.csv'; pass --label-column NAME"


def test_a_header_its_rows_repeat_is_still_a_header(tmp_path):
    """Two CSVs concatenated with their headers repeat 'text,label' as a row: the header is 'text,label', not a row of
    data, though 'text' is then a value of its own column (the fuzz corpus's huge.csv was refused as headerless)."""
    from headstart.data.files import read_table

    path = tmp_path / "joined.csv"
    rows = "".join(f"review number {i},{'ab'[i % 2]}\n" for i in range(40))
    path.write_text("text,label\n" + rows + "text,label\n" + rows)
    assert "label" in read_table(path).label_names  # the repeated header is a row (a class 'label'), as it was
