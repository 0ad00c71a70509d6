"""The synthetic default dataset (kept apart from production code): sales with known defects and their truth."""
