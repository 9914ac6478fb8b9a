"""Analysis of supernet rankings against ground truth: ranking metrics and their bootstrap intervals."""
