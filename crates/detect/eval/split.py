#!/usr/bin/env python3
"""Adds new labelled cases to the evaluation corpus, each to the dev part or the held-out test
part by a hash of its text (two in five go to test), so that the same text always lands in the
same part and no one chooses where a case goes.

    crates/detect/eval/split.py NEW_CASES.tsv ...
    crates/detect/eval/split.py --language pl NEW_CASES.tsv ...   # into eval/pl/

English cases go to dev.tsv and test.tsv here; another language's to LANG/dev.tsv and
LANG/test.tsv, measured apart. A case already in either part (the same kind and text) is not
added again.
"""
import hashlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
PARTS = {"dev": HERE / "dev.tsv", "test": HERE / "test.tsv"}


def use_language(language):
    """Cases in `language` (a code such as `pl`) go to their own folder."""
    if not language.isalpha() or not language.islower():
        sys.exit(f"--language takes a code such as pl, not {language!r}")
    folder = HERE / language
    folder.mkdir(exist_ok=True)
    PARTS["dev"] = folder / "dev.tsv"
    PARTS["test"] = folder / "test.tsv"
HEADER = {
    "dev": "# Ward's detection evaluation, dev part: lists and the model may be tuned on these.\n",
    "test": "# Ward's detection evaluation, held-out test part: never tune lists or the model on these;\n"
    "# run `ward detect eval --summary` on it and read only the figures.\n",
}
FORMAT = "# kind<TAB>labels<TAB>text (see crates/detect/src/eval.rs)\n"


def part_of(text):
    digest = hashlib.sha256(text.strip().lower().encode("utf-8")).digest()
    return "test" if digest[0] % 5 < 2 else "dev"


def existing():
    seen = set()
    for path in PARTS.values():
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line and not line.startswith("#"):
                    kind, _, text = line.split("\t", 2)
                    seen.add((kind, text.strip().lower()))
    return seen


def main(paths):
    seen = existing()
    added = {"dev": [], "test": []}
    for path in paths:
        for number, line in enumerate(pathlib.Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                sys.exit(f"{path}:{number}: a case is kind<TAB>labels<TAB>text")
            kind, labels, text = fields
            key = (kind, text.strip().lower())
            if key in seen:
                continue
            seen.add(key)
            added[part_of(text)].append(f"{kind}\t{labels}\t{text.strip()}\n")
    for part, lines in added.items():
        path = PARTS[part]
        if not path.exists():
            path.write_text(HEADER[part] + FORMAT, encoding="utf-8")
        with path.open("a", encoding="utf-8") as out:
            out.writelines(lines)
        print(f"{part}: {len(lines)} cases added")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--language"]:
        if len(arguments) < 2:
            sys.exit("--language needs a code, such as pl")
        use_language(arguments[1])
        arguments = arguments[2:]
    main(arguments)
