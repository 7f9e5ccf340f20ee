"""Sentiment-steered generation: the on-target rate before SFT, after SFT, after DPO (headstart.llm.judge).

Held-out prompts "Write a <positive|negative> review of <Movie>." (test movies of rotten-tomatoes-sft, alternating
sentiments) go to the base LM, the sft run and the prefer run; each generates once per seed (temperature sampling);
a headstart-trained sentiment classifier (``--classifier``, labels fresh / rotten; trained here as a MiniLM linear
probe on rotten-tomatoes when the folder does not exist) reads each generation. Printed and written as JSON: the rate
with its 95% interval over seeds and prompts, and sample generations.

    python benchmarks/llm_preference.py --classifier runs/rt-probe --sft runs/rt-sft --dpo runs/rt-dpo \
        --prompts 24 --seeds 0,1,2 --out runs/llm_preference.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def classifier(path: Path) -> Path:
    """The sentiment classifier run at ``path``, trained there first (MiniLM linear probe, all rows) when missing."""
    if not (path / "spec.json").exists():
        from headstart.api import fit

        print(f"training the sentiment classifier into {path} (MiniLM linear probe on rotten-tomatoes)", flush=True)
        result = fit("rotten-tomatoes", strategy="linear-probe", out=path)
        print(f"  validation accuracy {result.val_metrics['accuracy']:.3f}", flush=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/llm_preference.py --classifier runs/llm-pref/sentiment --sft runs/llm-pref/sft40 --dpo runs/llm-pref/dpo30 --prompts 20 --seeds 0,1,2",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classifier", type=Path, required=True, help="headstart train run (fresh / rotten); trained if missing")
    parser.add_argument("--sft", type=Path, help="sft run")
    parser.add_argument("--dpo", type=Path, help="prefer run")
    parser.add_argument("--backbone", default=None, help="base LM (default: the sft run's)")
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from headstart.api import evaluate
    from headstart.llm.judge import held_out_prompts, measure
    from headstart.llm.lm import lm_folder, load_lm
    from headstart.llm.runs import load_run, read_spec
    from headstart.precision import pick_device

    judge = classifier(args.classifier)
    prompts, asked = held_out_prompts(args.prompts)
    seeds = [int(s) for s in args.seeds.split(",")]
    backbone = args.backbone or (read_spec(args.sft)["backbone"] if args.sft else "smollm2-135m")
    report = {"classifier": str(judge), "classifier_test_accuracy": evaluate(judge)["accuracy"], "prompts": len(prompts),
              "seeds": seeds, "temperature": args.temperature, "max_new_tokens": args.max_new_tokens, "models": {}}
    models = [("base", None), ("sft", args.sft), ("dpo", args.dpo)]
    for name, run in models:
        if name != "base" and run is None:
            continue
        start = time.perf_counter()
        if run is None:
            model, tokenizer = load_lm(lm_folder(backbone), device=pick_device())
        else:
            loaded = load_run(run)
            model, tokenizer = loaded.model, loaded.tokenizer
        result = measure(model, tokenizer, judge, prompts, asked, seeds=seeds, temperature=args.temperature,
                         max_new_tokens=args.max_new_tokens)
        result["seconds"] = round(time.perf_counter() - start, 1)
        report["models"][name] = {"run": None if run is None else str(run), **result}
        print(f"{name:>5}: on-target {result['rate']:.3f} [{result['ci_low']:.3f}, {result['ci_high']:.3f}] "
              f"({len(prompts)} prompts x {len(seeds)} seeds, {result['seconds']} s)", flush=True)
        for s in result["samples"][:2]:
            print(f"       {s['prompt']} -> {s['generated'][:100]!r} ({'hit' if s['hit'] else 'miss'})", flush=True)
    if args.out:
        from headstart.atomic import write_json

        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, report)


if __name__ == "__main__":
    main()
