"""Names of the built-in detectors, apart from their code so that the CLI parser imports nothing heavy."""

DETECTORS = ("gbdt", "rf", "pca", "iforest")
SUPERVISED = ("gbdt", "rf")
