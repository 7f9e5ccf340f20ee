"""Fuzzing every user-reachable input: each item of a corpus fed to each command that reads that kind of input.

Kinds: data files (``train --data``, ``check-leakage --data``, ``predict RUN FILE``), text on stdin (``predict RUN -``),
sweep configs (``compare --config``), run directories a user may have edited (``evaluate``, ``predict``,
``adapters show``) and stores (``runs``, ``report``). Every (item, command) must end with exit 0 or 2, never a
traceback, and leave every file that existed before unchanged (but a run evaluate scored: its metrics.json and README.md
hold the test score). The items are hand-written edge cases plus mutations of
valid files drawn with a fixed seed (hypothesis would shrink a failure; a seeded generator keeps CI repeatable and
the table reproducible). ``python scripts/fuzz_table.py`` prints the per-command table of docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import make_toy
from test_bad_inputs import Case, Files, run_case, snapshot, use_tiny_backbone

SEED = 25  # the mutation generator's seed: the corpus is the same on every run

TINY = ["--backbone", "tiny", "--max-steps", "2", "--min-steps", "2", "--quiet"]


def _valid_csv(n: int = 60) -> str:
    data = make_toy(n, classes=2)
    return "text,label\n" + "".join(f"{t},{data.label_names[y]}\n" for t, y in zip(data.inputs, data.targets))


def _mutations(text: str, count: int, rng: random.Random) -> list[bytes]:
    """Byte-level mutations of a valid file: flipped, deleted, duplicated and inserted bytes, truncations."""
    out = []
    raw = text.encode()
    for _ in range(count):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 12)):
            i = rng.randrange(len(data)) if data else 0
            op = rng.choice("flip delete insert dup truncate")
            if op == "flip" and data:
                data[i] = rng.randrange(256)
            elif op == "delete" and data:
                del data[i]
            elif op == "insert":
                data[i:i] = bytes([rng.choice(b'",\n\r\t\\{}[]\x00\xff:|')])
            elif op == "dup" and data:
                data[i:i] = data[i : i + rng.randint(1, 40)]
            elif op == "truncate":
                data = data[: rng.randrange(len(data) + 1)]
        out.append(bytes(data))
    return out


def data_items() -> list[tuple[str, str, bytes]]:
    """(name, file name, content) of data files."""
    rng = random.Random(SEED)
    csv = _valid_csv()
    jsonl = "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in (line.rsplit(",", 1) for line in csv.splitlines()[1:]))
    items = [
        ("valid csv", "ok.csv", csv.encode()),
        ("valid jsonl", "ok.jsonl", jsonl.encode()),
        ("BOM and CRLF", "crlf.csv", b"\xef\xbb\xbf" + csv.replace("\n", "\r\n").encode()),
        ("NUL bytes", "nul.csv", csv.replace("a", "a\x00").encode()),
        ("only a header", "header.csv", b"text,label\n"),
        ("one column", "one.csv", b"text\n" + b"a\n" * 40),
        ("ragged rows", "ragged.csv", b"text,label\na,b,c,d\ne\n" + csv.encode()),
        ("unterminated quote", "quote.csv", b'text,label\n"never closed,a\n' + csv.encode()),
        ("huge field", "huge.csv", b"text,label\n" + b"x" * 200_000 + b",a\n" + csv.encode()),
        ("numbers as labels", "nums.csv", "".join(f"{t},{i % 3}.0\n" for i, t in enumerate(csv.splitlines())).encode()),
        ("inf labels for regression", "inf.csv", b"text,label\n" + b"".join(f"t{i},{'inf' if i == 3 else i}\n".encode() for i in range(40))),
        ("json scalar", "scalar.json", b"5"),
        ("json string", "string.json", b'"hello"'),
        ("json object of lists", "obj.json", json.dumps({"text": ["a", "b"], "label": ["x"]}).encode()),
        ("json nested deep", "deep.json", b"[" * 100_000 + b"]" * 100_000),
        ("jsonl with arrays", "arrays.jsonl", b'[1, 2]\n[3, 4]\n'),
        ("jsonl labels as dicts", "dicts.jsonl", b"".join(json.dumps({"text": f"t{i}", "label": {"a": i}}).encode() + b"\n" for i in range(30))),
        ("latin-1 bytes", "latin.csv", "text,label\ncafé,a\nthé,b\n".encode("latin-1") * 20),
        ("binary garbage", "garbage.csv", bytes(random.Random(1).randrange(256) for _ in range(4000))),
        ("fake parquet", "fake.parquet", b"PAR1" + b"\x00" * 100 + b"PAR1"),
        ("txt file", "plain.txt", b"just lines\nof text\n"),
    ]
    items += [(f"mutated csv {i}", f"mut{i}.csv", m) for i, m in enumerate(_mutations(csv, 16, rng))]
    items += [(f"mutated jsonl {i}", f"mutj{i}.jsonl", m) for i, m in enumerate(_mutations(jsonl, 8, rng))]
    return items


def stdin_items() -> list[tuple[str, bytes]]:
    rng = random.Random(SEED + 1)
    return [("empty", b""), ("blank lines", b"\n\n \n"), ("latin-1", "café\n".encode("latin-1")),
            ("NUL", b"a\x00b\n"), ("long line", b"word " * 50_000 + b"\n"), ("CRLF", b"good film\r\nbad film\r\n"),
            ("random bytes", bytes(rng.randrange(256) for _ in range(2000)))]


ODD_VALUES = ["-1", "0", "1e999", '""', "[]", "{}", "true", '"x"', "[[1]]", "9" * 30]


def config_items() -> list[tuple[str, str]]:
    rng = random.Random(SEED + 2)
    valid = 'strategies = ["linear-probe"]\nsizes = [8]\nseeds = 1\ntune = false\n[train]\nmax_steps = 2\nmin_steps = 2\n'
    items = [
        ("empty", ""), ("not toml", "strategies = [\n"), ("unknown key", "colour = 1\n"), ("sizes a string", 'sizes = "x"\n'),
        ("sizes of tables", "sizes = [{a = 1}]\n"), ("seeds negative", "seeds = -1\n"), ("seeds a string", 'seeds = "3"\n'),
        ("strategies a number", "strategies = 5\n"), ("strategies of numbers", "strategies = [1, 2]\n"), ("train = 5", "train = 5\n"),
        ("warmup a string", '[train]\nwarmup = "0.1"\n'), ("lr a bool", "[train]\nlr = true\n"), ("epochs a float", "[train]\nepochs = 1.5\n"),
        ("batch a list", "[train]\nbatch_size = [16]\n"), ("split max_test a string", '[split]\nmax_test = "600"\n'),
        ("options not tables", 'options = {lora = 5}\n'), ("train_by_strategy not tables", "train_by_strategy = {lora = 5}\n"),
        ("grid a list", "grid = [1, 2]\n"), ("grid of strings", 'tune = true\n[grid]\nlinear-probe = ["a"]\n'),
        ("workers zero", "workers = 0\n"), ("tune a number", "tune = 3\n"), ("data a number", "data = 3\n"),
        ("backbone a list", 'backbone = ["a"]\n'), ("out a number", "out = 5\n"),
    ]
    for i in range(10):
        lines = valid.splitlines()
        j = rng.randrange(len(lines))
        key = lines[j].split("=")[0].strip() if "=" in lines[j] else None
        if key:
            lines[j] = f"{key} = {rng.choice(ODD_VALUES)}"
        items.append((f"mutated config {i}", "\n".join(lines) + "\n"))
    return items


SPEC_DAMAGE: list[tuple[str, Callable[[dict], object]]] = [
    ("not an object", lambda m: [1, 2]),
    ("resolved missing", lambda m: {k: v for k, v in m.items() if k != "resolved"}),
    ("strategy unknown", lambda m: {**m, "resolved": {**m["resolved"], "strategy": "nope"}}),
    ("strategy a number", lambda m: {**m, "resolved": {**m["resolved"], "strategy": 3}}),
    ("seed a string", lambda m: {**m, "resolved": {**m["resolved"], "seed": "0"}}),
    ("label_names a string", lambda m: {**m, "label_names": "ab"}),
    ("label_names of numbers", lambda m: {**m, "label_names": [1, 2]}),
    ("no label names", lambda m: {**m, "label_names": []}),
    ("backbone unknown", lambda m: {**m, "spec": {**m["spec"], "backbone": "nope"}}),
    ("backbone_saved unknown", lambda m: {**m, "backbone_saved": "sideways"}),
    ("options bogus", lambda m: {**m, "resolved": {**m["resolved"], "options": {"rank": "x"}}}),
    ("task unknown", lambda m: {**m, "resolved": {**m["resolved"], "data": {**m["resolved"]["data"], "task": "poetry"}}}),
    ("precision bogus", lambda m: {**m, "resolved": {**m["resolved"], "train": {**m["resolved"]["train"], "precision": "fp7"}}}),
]


def store_items() -> list[tuple[str, Callable[[Path], None]]]:
    def sql(statement: str) -> Callable[[Path], None]:
        def damage(path: Path) -> None:
            conn = sqlite3.connect(path)
            with conn:
                conn.execute(statement)
            conn.close()
        return damage

    def zero(offset: int) -> Callable[[Path], None]:
        def damage(path: Path) -> None:
            data = bytearray(path.read_bytes())
            data[offset : offset + 4096] = bytes(min(4096, max(0, len(data) - offset)))
            path.write_bytes(bytes(data))
        return damage

    return [("dropped runs table", sql("DROP TABLE runs")), ("dropped meta table", sql("DROP TABLE meta")),
            ("bad metrics JSON", sql("UPDATE runs SET metrics = '{x'")), ("bad spec JSON", sql("UPDATE runs SET spec = 'null'")),
            ("bad record JSON", sql("UPDATE runs SET record = '[1'")), ("unknown status", sql("UPDATE runs SET status = 'odd'")),
            ("bad sweep JSON", sql("UPDATE meta SET value = '{' WHERE key = 'sweep'")), ("text in numbers", sql("UPDATE runs SET steps = 'many'")),
            ("schema version text", sql("UPDATE meta SET value = 'v4' WHERE key = 'schema_version'")),
            ("zeroed header", zero(0)), ("zeroed page 2", zero(4096)), ("truncated", lambda p: p.write_bytes(p.read_bytes()[:1000])),
            ("not sqlite", lambda p: p.write_bytes(b"hello" * 100))]


@dataclass(frozen=True)
class Item:
    kind: str
    name: str
    command: str
    case: Case


def _store(files: Files, name: str, damage: Callable[[Path], None]) -> str:
    from headstart.results import RunResult
    from headstart.store import FILENAME, Store

    with Store(files.path(name)) as store:
        for seed in range(2):
            store.put(RunResult(key=f"k{seed}", spec={"strategy": "linear-probe", "n": 8, "n_requested": 8, "seed": seed},
                                status="done", metrics={"accuracy": 0.6 + seed / 10}, val_metrics={"accuracy": 0.6}))
        store.set_sweep("headstart compare", {"seeds": 2})
    damage(files.path(name) / FILENAME)
    return str(files.path(name))


def _edited_run(files: Files, name: str, edit: Callable[[dict], object]) -> str:
    return files.damaged_run(name, lambda d: (d / "spec.json").write_text(json.dumps(edit(json.loads((d / "spec.json").read_text())))))


def items() -> list[Item]:
    out = []
    for name, filename, content in data_items():
        def write(f: Files, filename: str = filename, content: bytes = content) -> str:
            return f.write(filename, content)
        out += [Item("data file", name, "train", Case(name, lambda f, w=write: ["train", "--data", w(f), *TINY, "--n", "8",
                                                                                   "--out", str(f.path("out"))], ())),
                Item("data file", name, "check-leakage", Case(name, lambda f, w=write: ["check-leakage", "--data", w(f)], ())),
                Item("data file", name, "predict", Case(name, lambda f, w=write: ["predict", str(f.run()), w(f)], ()))]
    for name, content in stdin_items():
        out.append(Item("stdin", name, "predict -", Case(name, lambda f: ["predict", str(f.run()), "-"], (), stdin=content)))
    for name, text in config_items():
        out.append(Item("sweep config", name, "compare --config",
                        Case(name, lambda f, t=text: ["compare", "--config", f.write("sweep.toml", t), "--data", f.toy(), "--backbone",
                                                      "tiny", "--out", str(f.path("cmp"))], ())))
    for name, edit in SPEC_DAMAGE:
        for command in ("evaluate", "predict", "adapters show"):
            def args(f: Files, e: Callable[[dict], object] = edit, c: str = command, n: str = name) -> list[str]:
                run = _edited_run(f, "edited", e)
                return {"evaluate": ["evaluate", run], "predict": ["predict", run, "-"], "adapters show": ["adapters", "show", run]}[c]
            out.append(Item("run directory", name, command, Case(name, args, (), stdin="a fine film\n")))
    for name, damage in store_items():
        for command in ("runs", "report"):
            out.append(Item("store", name, command, Case(name, lambda f, d=damage, c=command: [c, _store(f, "store", d)], ())))
    return out


ITEMS = items()


@pytest.fixture
def files(tmp_path, monkeypatch) -> Files:
    use_tiny_backbone(monkeypatch.setattr)
    return Files(tmp_path)


def outcome(item: Item, files: Files, capsys) -> tuple[int, str]:
    """Run one item; returns (exit code, stderr) after checking the contract."""
    def read() -> tuple[str, str]:
        captured = capsys.readouterr()
        return captured.out, captured.err

    args, code, out, err, before = run_case(item.case, files, read)
    assert "Traceback" not in out + err, (args, err[-2000:])
    assert code in (0, 2), (args, code, err[-2000:])
    if code == 2:
        lines = err.strip().splitlines()
        assert lines and lines[-1].startswith("error: "), (args, err[-2000:])
    after = snapshot(files.root)
    scored = code == 0 and args[0] == "evaluate"  # evaluate writes the test score into the run's metrics.json, README.md
    changed = [k for k, v in before.items() if after.get(k) != v and not k.startswith(("cmp/", "out/", "store/"))
               and not (scored and k.endswith(("/metrics.json", "/README.md")))]
    assert not changed, (args, changed)  # a store a command writes its report into may change; nothing else may
    return code, err


@pytest.mark.slow
@pytest.mark.parametrize("item", ITEMS, ids=[f"{i.command}:{i.name}" for i in ITEMS])
def test_fuzz(item, files, capsys):
    outcome(item, files, capsys)
