"""Work made of several runs: the poisoning experiment (clean, poisoned and defended victims) and studies
(a grid of runs with steps, resumable, then the report)."""
