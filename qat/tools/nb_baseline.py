#!/usr/bin/env python3
# A reference for the classifier's held-out accuracy: multinomial naive Bayes on word unigrams and
# bigrams (binary counts, Laplace smoothing), 5-fold stratified cross-validation over the 3,000
# labelled sentences (empty records dropped). Its folds are its own seeded deal, not
# sentiment_fold's, so compare means, not folds.
# Usage: python3 qat/tools/nb_baseline.py [DATA_DIR]   (default data/, from scripts/setup.sh)
import glob
import json
import math
import random
import re
import statistics
import sys

data = sys.argv[1] if len(sys.argv) > 1 else "data"
rows = []
for path in sorted(glob.glob(data + "/sentiment/**/*.json", recursive=True)):
    if not any(name in path for name in ("imdb", "amazon", "yelp")):
        continue
    rows += [(r["text"], r["class"]) for r in json.load(open(path)) if r.get("text") and r.get("class") in (0, 1)]


def features(text):
    words = re.findall(r"[a-z']+|[!?]", text.lower())
    return set(words + [a + " " + b for a, b in zip(words, words[1:])])


random.seed(7)
folds = [[] for _ in range(5)]
for label in (0, 1):
    members = [i for i, (_, y) in enumerate(rows) if y == label]
    random.shuffle(members)
    for k, i in enumerate(members):
        folds[k % 5].append(i)
accuracies = []
for held in folds:
    held_set = set(held)
    counts, totals, priors = [{}, {}], [0, 0], [0, 0]
    for i, (text, y) in enumerate(rows):
        if i in held_set:
            continue
        priors[y] += 1
        for f in features(text):
            counts[y][f] = counts[y].get(f, 0) + 1
            totals[y] += 1
    vocab = len(set(counts[0]) | set(counts[1]))
    right = 0
    for i in held:
        text, y = rows[i]
        score = [math.log(priors[c]) + sum(math.log((counts[c].get(f, 0) + 1) / (totals[c] + vocab)) for f in features(text)) for c in (0, 1)]
        right += (score[1] > score[0]) == (y == 1)
    accuracies.append(right / len(held))
print(f"{len(rows)} sentences; naive Bayes, word uni+bigrams, 5 folds:",
      ", ".join(f"{a:.3f}" for a in accuracies),
      f"mean {statistics.mean(accuracies):.4f} sd {statistics.stdev(accuracies):.4f}")
