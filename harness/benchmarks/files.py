"""Registry of the published ground-truth files the harness knows: where they live and their sha256.

Paths are relative to the data directory (`--data-dir`, `HARNESS_DATA_DIR`, or the user cache).
"""

from __future__ import annotations

import errno
import http.client
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.benchmarks.base import resolve_data_dir, verify_file
from harness.errors import DataFileError
from harness.io import make_folder, new_file_mode, remove_empty_folders, write_error
from harness.registry import Registry


@dataclass(frozen=True)
class KnownFile:
    name: str
    relpath: str
    url: str
    sha256: str | None
    description: str
    note: str = ""  # licence or handling notes shown by `gt fetch`
    # Set for a file that has no download of its own (e.g. converted from a notebook's output):
    # how to make it. `fetch` never downloads such a file; it says where to put it.
    manual: str = ""

    def path(self, data_dir: str | os.PathLike | None = None) -> Path:
        return resolve_data_dir(data_dir) / self.relpath

    def how_to_get(self, data_dir: str | os.PathLike | None = None) -> str:
        target = self.path(data_dir)
        if self.manual:
            return (f"{self.manual}; put it at {target} (or pass --data-dir / set "
                    "HARNESS_DATA_DIR)")
        return f"download {self.url} and put it at {target} (or pass --data-dir / set HARNESS_DATA_DIR)"

    def verified_path(self, data_dir: str | os.PathLike | None = None) -> Path:
        """The file's path after checking that it exists and has the registered sha256."""
        path = self.path(data_dir)
        verify_file(path, self.sha256, self.how_to_get(data_dir))
        return path


KNOWN_FILES: Registry[KnownFile] = Registry("ground-truth file", providers="harness.benchmarks")


def known_file(*args, **kwargs) -> KnownFile:
    entry = KnownFile(*args, **kwargs)
    return KNOWN_FILES.add(entry.name, entry)


known_file(
    "pooling-results",
    "pooling/resnet20_baselines_mixture.csv",
    "https://raw.githubusercontent.com/mehravehj/Balanced-Mixture-of-SuperNets/"
    "6ff0070b962a7196db17674c88914f5390090efb/results/resnet20_baselines_mixture.csv",
    "623be4f3f616810ed06cbbabf096bcb7e75c2120286edf32bc3fa4cc7035f386",
    "Pooling benchmark (ResNet20, CIFAR-10): stand-alone and supernet accuracies of 36 architectures",
    "published results of the Balanced Mixture of SuperNets repository (no licence file)",
)
known_file(
    "pooling-lookup",
    "pooling/rn20_lookup_space.csv",
    "https://raw.githubusercontent.com/mehravehj/Balanced-Mixture-of-SuperNets/"
    "6ff0070b962a7196db17674c88914f5390090efb/experiments/Pooling%20Experiments/resnet20/"
    "Balanced%20Mixture/rn20_lookup_space.csv",
    "7482ab6b928c6728ac06826a036e51947f28d6440a74e2930f361e9ba8055a42",
    "Pooling benchmark: architecture id -> [b1,b2,b3] and 10-bit pooling code",
)
known_file(
    "nb-macro-cifar10",
    "nb_macro/nas-bench-macro_cifar10.json",
    "https://raw.githubusercontent.com/xiusu/NAS-Bench-Macro/"
    "61a2bfc2ca0dce04d0997e6cf498047c27d6acf2/data/nas-bench-macro_cifar10.json",
    "686dee8363cc21cca8c1f321ad5749454f2d9b9ca5972682e137e539bc522297",
    "NAS-Bench-Macro (CIFAR-10): 6,561 codes, 3 seeds each",
    "Apache License 2.0, Copyright 2021 Xiu Su",
)
known_file(
    "pooling-authors-grad-cosine",
    "pooling/authors_grad_cosine_similarity_by_layer.csv",
    "https://github.com/mehravehj/Balanced-Mixture-of-SuperNets/blob/aa25882/"
    "Pooling%20/analysis/Pooling_grad_analysis.ipynb",
    "9d90a1b5e9e6d3b7eb8444d123ac2fa61999a56dd8ae076690e765de2ad9339f",
    "Debiasing paper's Figure 2 reference (pooling supernet): per-tensor mean pairwise gradient "
    "cosine similarity over the 36 architectures at 11 saved epochs (22 tensors, 242 rows)",
    "a conversion to CSV of the printed output of cell 18 of the authors' notebook (repository "
    "without a licence file; the notebook was deleted in the next commit, 6ff0070); kept in the "
    "data directory, never committed",
    manual="no direct download: convert the printed output of cell 18 of "
    "https://github.com/mehravehj/Balanced-Mixture-of-SuperNets/blob/aa25882/"
    "Pooling%20/analysis/Pooling_grad_analysis.ipynb to CSV (columns layer, epoch, mean_cos_sim, "
    "std_cos_sim; values as printed)",
)


# A failed or mismatching download is tried again this many times (pooch waits 1 s, then 2 s).
DOWNLOAD_RETRIES = 2


def fetch(name: str, data_dir: str | os.PathLike | None = None, timeout: float = 30.0) -> Path:
    """Download a known file into the data directory and verify its sha256; a precise error
    offline.

    pooch does the work: it streams into a temporary file beside the target, checks the sha256,
    renames the file into place only when it matches, and retries a dropped connection or a
    mismatch (DOWNLOAD_RETRIES). What is written here is the registry (where each file comes
    from, its checksum) and the one-line errors; a failure leaves nothing behind, not even a
    folder the download created.
    """
    entry = KNOWN_FILES.get(name)
    target = entry.path(data_dir)
    if target.is_file():
        return entry.verified_path(data_dir)
    if entry.manual:
        raise DataFileError(f"{target}: '{name}' is not downloaded automatically; "
                            f"{entry.how_to_get(data_dir)}")
    if not entry.sha256:
        # Without a published checksum a download cannot be verified (and some hosts answer with
        # an HTML page): the user fetches it by hand.
        raise DataFileError(
            f"{target}: '{name}' has no published sha256, so it is not downloaded automatically; "
            f"{entry.how_to_get(data_dir)}"
        )
    import pooch
    import requests

    pooch.get_logger().setLevel("WARNING")  # the progress bar and our lines say enough
    created = make_folder(target.parent)
    done = False
    attempts = 1 + DOWNLOAD_RETRIES
    try:
        store = pooch.create(path=target.parent, base_url="", retry_if_failed=DOWNLOAD_RETRIES,
                             registry={target.name: f"sha256:{entry.sha256}"},
                             urls={target.name: entry.url})
        downloader = pooch.HTTPDownloader(timeout=timeout, progressbar=sys.stderr.isatty())
        try:
            store.fetch(target.name, downloader=downloader)
        except ValueError:  # every attempt's sha256 differed from the registry's
            raise DataFileError(
                f"{entry.url}: the download does not match its sha256 ({entry.sha256[:12]}...) "
                f"after {attempts} attempts (a truncated download or a changed source); retry, "
                f"or {entry.how_to_get(data_dir)}"
            ) from None
        except (requests.exceptions.RequestException, http.client.HTTPException, OSError,
                TimeoutError) as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.ENOSPC,
                                                          errno.EROFS, errno.EDQUOT):
                raise write_error(target, exc) from None
            detail = str(exc).strip().splitlines()
            detail = detail[0] if detail else ""
            raise DataFileError(
                f"{target}: could not download {entry.url} ({exc.__class__.__name__}"
                f"{': ' + detail if detail else ''}); retry, or {entry.how_to_get(data_dir)}"
            ) from None
        os.chmod(target, new_file_mode())  # pooch's temporary file was private (0600)
        done = True
    finally:
        if not done:  # pooch removed its temporary file; the folders we made go too
            remove_empty_folders(created)
    return target
