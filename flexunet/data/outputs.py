"""The data stage's output names: what the dataset inspector writes into the inspection folder."""

INSPECTION_DIR = "inspection"
COUNTS_PNG = "dataset_counts.png"


def dataset_csv(section: str) -> str:
    return f"dataset_{section}.csv"


def samples_png(section: str) -> str:
    return f"{section}_samples.png"


def coverage_png(section: str) -> str:
    return f"dataset_{section}_coverage.png"
