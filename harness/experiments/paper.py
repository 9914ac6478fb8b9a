"""Published numbers of the paper's supplement (shared/reference/paper_numbers.md), to stand
beside every measured number."""

TABLE3 = {  # (space, sampler) -> (Kendall tau, Spearman)
    ("pooling", "uniform"): (0.16, 0.21),
    ("pooling", "debiased"): (0.34, 0.55),
    ("nb-macro", "uniform"): (0.72, 0.87),
    ("nb-macro", "debiased"): (0.74, 0.91),
}
TABLE4 = {"inverse_mean_distance": 0.34, "kde": 0.32}  # pooling, Kendall tau
TABLE5 = {50.0: 0.72, 7.0: 0.74, 0.5: 0.67, 0.1: 0.65}  # NAS-Bench-Macro, Kendall tau
TABLE6 = {0: 0.00, 5: 0.76, 10: 0.88, 50: 0.95, 100: 0.96, 200: 1.00, 300: 1.00}  # warm-up -> rho
# The pooling benchmark's own single-supernet column against its ground truth (sanity anchor).
POOLING_M1 = (0.143, 0.233)


PAPER_TABLE6_EPOCHS = tuple(TABLE6)  # the paper's warm-up epochs (of 300) in its Table 6


def table6_epochs(profile: str) -> dict[int, int]:
    """{paper epoch (of 300): epochs here} for the profile's Table 6 run length."""
    from harness.profiles import get_profile

    length = get_profile(profile).table6_length
    return {e: int(round(e / 300 * length)) for e in PAPER_TABLE6_EPOCHS}
