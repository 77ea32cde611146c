"""What a model is worth: per-user ranking metrics, memory-bounded full ranking, the evaluation protocols,
the robustness probe, poisoning exposure metrics, detection metrics and significance tests."""
